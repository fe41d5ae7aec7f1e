"""What the gateway keeps of a secured virtual device's SVRs, and where it keeps it.

Layer: ``bridge.ocf`` pure (JSON-ready dicts; no files: the daemon implements
:class:`SecurityStore` over its state directory, ``bridge.daemon.ocf_security_store``). A
document holds everything the owner provisioned: doxm (``oxmsel``, ``owned``, the uuids),
``pstat.dos.s``, the credentials with their keys (hex), the ACEs and sdi. The PIN is never
stored: a restart shows a new one to the user of a device that is still unowned.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from bridge.ocf import svr

VERSION = 1


class SecurityStore(ABC):
    """Documents keyed by a stable name of each virtual device (its origin-derived uuid).

    The OCF side calls :meth:`save` after every change an owner makes and :meth:`load` when
    it publishes the device (at start, and when the origin device returns); the store writes
    atomically, readable by the gateway's user only. ``load`` answers None for a device never
    seen, and raises ``SecurityError`` for a document that does not load.
    """

    @abstractmethod
    def load(self, key: str) -> Mapping[str, Any] | None:
        """The document saved under ``key``, or None."""

    @abstractmethod
    def save(self, key: str, document: Mapping[str, Any]) -> None:
        """Replace the document under ``key`` (raises ``OSError`` when it cannot)."""


def to_document(state: svr.SecureState) -> dict[str, Any]:
    return {
        "version": VERSION,
        "deviceuuid": str(state.device), "oxmsel": state.oxmsel, "owned": state.owned,
        "devowneruuid": str(state.devowner), "rowneruuid": str(state.rowner),
        "dos": int(state.state),
        "creds": [{"credid": c.credid, "subject": str(c.subject), "credtype": c.credtype,
                   "key": c.key.hex(), "role": list(c.role) if c.role else None}
                  for c in state.creds],
        "acl": [{"aceid": a.aceid, "subject": str(a.subject) if a.subject else None,
                 "conntype": a.conntype, "role": list(a.role) if a.role else None,
                 "hrefs": list(a.hrefs), "ifs": list(a.ifs),
                 "permission": a.permission} for a in state.acl],
        "sdi": {k: v for k, v in state.sdi.items() if isinstance(v, str | bool)},
    }


def from_document(document: Mapping[str, Any], *, first: uuid.UUID) -> svr.SecureState:
    """The state a document describes; ``first`` is the uuid a reset returns to. Raises
    ``ValueError``, ``KeyError`` or ``TypeError`` for a document that is not one."""
    if document.get("version") != VERSION:
        raise ValueError(f"unknown version {document.get('version')!r}")
    state = svr.SecureState(uuid.UUID(document["deviceuuid"]), first_device=first)
    state.oxmsel = int(document["oxmsel"])
    state.owned = bool(document["owned"])
    state.devowner = uuid.UUID(document["devowneruuid"])
    state.rowner = uuid.UUID(document["rowneruuid"])
    state.state = svr.DeviceState(int(document["dos"]))
    state.creds = [svr.Credential(int(c["credid"]), uuid.UUID(c["subject"]),
                                  bytes.fromhex(c["key"]), int(c["credtype"]),
                                  role=_role(c.get("role")))
                   for c in document["creds"]]
    state.acl = [svr.Ace(int(a["aceid"]), uuid.UUID(a["subject"]) if a["subject"] else None,
                         tuple(a["hrefs"]), int(a["permission"]), conntype=str(a["conntype"]),
                         ifs=tuple(a["ifs"]), role=_role(a.get("role")))
                 for a in document["acl"]]
    sdi = document["sdi"]
    if not isinstance(sdi, Mapping):
        raise TypeError("sdi is not a map")
    state.sdi = {**state.sdi, **sdi}
    return state


def _role(value: Any) -> svr.Role | None:
    """A saved role (``[role, authority]``, or None; documents saved before roles lack it)."""
    if value is None:
        return None
    role, authority = value
    return str(role), str(authority)
