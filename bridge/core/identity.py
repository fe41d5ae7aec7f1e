"""Stable identities of bridged devices.

Layer: ``bridge.core`` (pure: the daemon persists :meth:`IdentityBook.to_json` atomically in
the state directory and loads it back with :meth:`IdentityBook.from_json`).

Rules (docs/protocol-notes.md, "Identity"):
- A Thing's id is ``ocf:<piid>`` (or ``ocf:<di>`` for a device without ``piid``) and
  ``alljoyn:<DeviceId>:<AppId hex>``. OCF devices without security get a fresh ``di`` and fresh
  ports on every restart; only ``piid`` is stable, so it is the key whenever the device has one.
- OCF -> AllJoyn: AppId = the 16 bytes of ``di``, DeviceId = ``pi`` — assigned the first time
  the device is seen and kept, so a device that comes back with a new ``di`` keeps its AllJoyn
  identity and consumers see no duplicate.
- AllJoyn -> OCF: ``piid`` = About ``org.openconnectivity.piid`` when it is a UUID, else
  UUIDv5(DeviceId bytes + AppId); ``pi`` from DeviceId; ``di`` = the AppId bytes as a UUID.

An entry also remembers since when its device is gone (``gone_since``, wall-clock time in ISO
8601 UTC, and the device's ``name`` then), so that :mod:`bridge.core.forgetting` can forget a
device that is still gone after a restart of the gateway.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import bridge.naming as naming
from bridge.core.text import MAX_NAME_LENGTH, text_problem
from bridge.core.thing import Identity

log = logging.getLogger("ocfaj.identity")

_SLUG = re.compile(r"[^a-z0-9]+")
_APP_ID = re.compile(r"[0-9a-f]{32}")
#: the fields each kind of entry needs; an entry that lost one gets it derived again.
_OCF_FIELDS = ("app_id", "device_id")
_ALLJOYN_FIELDS = ("di", "piid", "pi")
#: when the device went gone (wall clock, ISO 8601 UTC) and what it was called then.
_GONE_SINCE = "gone_since"
_GONE_NAME = "name"


def ocf_thing_id(di: str, piid: str) -> str:
    return f"ocf:{piid or di}"


def alljoyn_thing_id(device_id: str, app_id: bytes) -> str:
    return f"alljoyn:{device_id}:{app_id.hex()}"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


class IdentityBook:
    """The virtual identities and friendly names the gateway has handed out."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, str]] = {}
        #: how many entries hold each friendly name, built when first needed and then kept
        #: current (a new name is checked against all of them: a thousand devices found at
        #: once would else cost a million comparisons).
        self._taken: Counter[str] | None = None
        #: True when something changed since the last :meth:`to_json`.
        self.dirty = False

    def for_ocf_device(self, di: str, piid: str, pi: str) -> tuple[str, Identity]:
        """The Thing id and full identity of an OCF device."""
        thing_id = ocf_thing_id(di, piid)
        entry = self._entries.get(thing_id, {})
        if not all(key in entry for key in _OCF_FIELDS):
            app_id = naming.app_id_from_di(di) if _is_uuid(di) else uuid.uuid4().bytes
            entry = {"app_id": app_id.hex(), "device_id": pi or piid or di, **entry}
            self._store(thing_id, entry)
        ident = Identity(di=di, piid=piid, pi=pi, app_id=bytes.fromhex(entry["app_id"]),
                         device_id=entry["device_id"])
        return thing_id, ident

    def for_alljoyn_device(self, device_id: str, app_id: bytes,
                           about: Mapping[str, Any] | None = None) -> tuple[str, Identity]:
        """The Thing id and full identity of an AllJoyn device."""
        thing_id = alljoyn_thing_id(device_id, app_id)
        entry = self._entries.get(thing_id, {})
        if not all(key in entry for key in _ALLJOYN_FIELDS):
            declared = (about or {}).get("org.openconnectivity.piid")
            piid = (str(uuid.UUID(declared)) if isinstance(declared, str) and _is_uuid(declared)
                    else naming.derive_piid(device_id, app_id))
            entry = {"di": naming.derive_virtual_di(app_id), "piid": piid,
                     "pi": naming.derive_pi(device_id), **entry}
            self._store(thing_id, entry)
        ident = Identity(di=entry["di"], piid=entry["piid"], pi=entry["pi"], app_id=app_id,
                         device_id=device_id)
        return thing_id, ident

    def friendly_name(self, thing_id: str, name: str) -> str:
        """A stable, unique, topic-safe name for ``thing_id`` (first assignment wins), at most
        :data:`MAX_NAME_LENGTH` characters, like the names ``rename`` accepts."""
        entry = self._entries.get(thing_id)
        if entry is not None and entry.get("friendly_name"):
            return entry["friendly_name"]
        # Cut before the suffix is added, so that even "<base>_<n>" fits what rename allows.
        base = _SLUG.sub("_", name.lower()[:MAX_NAME_LENGTH]).strip("_") or "device"
        taken = self._names()
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            suffix = f"_{n}"
            candidate = base[:MAX_NAME_LENGTH - len(suffix)].rstrip("_") + suffix
        self._store(thing_id, {**(entry or {}), "friendly_name": candidate})
        return candidate

    def set_friendly_name(self, thing_id: str, name: str) -> None:
        entry = self._entries.get(thing_id, {})
        self._store(thing_id, {**entry, "friendly_name": name})

    def forget(self, thing_id: str) -> None:
        """Drop the entry of a device the gateway forgot (``bridge.forget_after``).

        Its friendly name is free again. A device that answers after being forgotten is new:
        identities derived from the device itself (every AllJoyn device's, the Thing id) come
        out the same, identities first assigned here (an OCF device's AppId) may not.
        """
        entry = self._entries.pop(thing_id, None)
        if entry is not None:
            self._count_name(entry.get("friendly_name"), -1)
            self.dirty = True

    def thing_ids(self) -> list[str]:
        """Every Thing id with an entry."""
        return list(self._entries)

    def mark_gone(self, thing_id: str, since: float, name: str) -> None:
        """Remember that the device went gone at ``since`` (seconds since the epoch), called
        ``name``; kept until :meth:`mark_present`, across restarts of the gateway."""
        entry = self._entries.get(thing_id, {})
        stamp = datetime.fromtimestamp(since, UTC).isoformat(timespec="milliseconds")
        wanted = {**entry, _GONE_SINCE: stamp, **({_GONE_NAME: name} if name else {})}
        if wanted != entry:
            self._store(thing_id, wanted)

    def mark_present(self, thing_id: str) -> None:
        """The device answers: it is not gone (any more)."""
        entry = self._entries.get(thing_id)
        if entry is not None and (_GONE_SINCE in entry or _GONE_NAME in entry):
            self._store(thing_id, {k: v for k, v in entry.items()
                                   if k not in (_GONE_SINCE, _GONE_NAME)})

    def gone_since(self, thing_id: str) -> float | None:
        """When the device went gone (seconds since the epoch), None if it is not marked."""
        stamp = self._entries.get(thing_id, {}).get(_GONE_SINCE)
        return None if stamp is None else _parse_time(stamp)

    def gone_name(self, thing_id: str) -> str:
        """The device's name when it went gone, else its friendly name, else ``""``."""
        entry = self._entries.get(thing_id, {})
        return entry.get(_GONE_NAME) or entry.get("friendly_name", "")

    def forget_friendly_name(self, thing_id: str) -> None:
        """Drop the stored name, so that :meth:`friendly_name` assigns a new one."""
        entry = self._entries.get(thing_id)
        if entry is not None and "friendly_name" in entry:
            self._store(thing_id, {k: v for k, v in entry.items() if k != "friendly_name"})

    def _store(self, thing_id: str, entry: dict[str, str]) -> None:
        old = self._entries.get(thing_id, {}).get("friendly_name")
        if old != entry.get("friendly_name"):
            self._count_name(old, -1)
            self._count_name(entry.get("friendly_name"), 1)
        self._entries[thing_id] = entry
        self.dirty = True

    def _names(self) -> Counter[str]:
        if self._taken is None:
            self._taken = Counter(name for e in self._entries.values()
                                  if (name := e.get("friendly_name")))
        return self._taken

    def _count_name(self, name: str | None, change: int) -> None:
        if self._taken is None or not name:
            return
        self._taken[name] += change
        if self._taken[name] <= 0:
            del self._taken[name]

    def to_json(self) -> dict[str, Any]:
        self.dirty = False
        return {"version": 1, "identities": {k: dict(v) for k, v in self._entries.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IdentityBook:
        """Load a book; raises ValueError when the document is not one this version wrote.

        A value that no side could use (text rules of :mod:`bridge.core.text`, an AppId that is
        not 16 bytes of hex, a friendly name beyond :data:`MAX_NAME_LENGTH`) is dropped with a
        warning: the device gets that value assigned again, and every side starts.
        """
        if not isinstance(data, Mapping) or data.get("version") != 1:
            raise ValueError("not an identity book of version 1")
        entries = data.get("identities")
        if not isinstance(entries, Mapping):
            raise ValueError("identity book without an 'identities' table")
        book = cls()
        for thing_id, entry in entries.items():
            if not isinstance(thing_id, str) or not isinstance(entry, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in entry.items()
            ):
                raise ValueError(f"identity entry {thing_id!r} is malformed")
            problem = text_problem(thing_id)
            if problem is not None:
                log.warning("identity book: dropped the entry %r: its id %s; the device gets "
                            "a new identity", thing_id, problem)
                book.dirty = True
                continue
            book._entries[thing_id] = _usable(thing_id, entry)
            if len(book._entries[thing_id]) != len(entry):
                book.dirty = True
        return book


def _usable(thing_id: str, entry: Mapping[str, str]) -> dict[str, str]:
    """The values of a stored entry that a side can use; each dropped one is logged."""
    kept: dict[str, str] = {}
    for key, value in entry.items():
        problem = text_problem(key) or text_problem(value)
        if problem is None and key == "app_id" and not _APP_ID.fullmatch(value):
            problem = "is not 16 bytes of lowercase hex"
        if problem is None and key == "friendly_name" and not (
                value.strip() and len(value) <= MAX_NAME_LENGTH):
            problem = f"is empty or longer than {MAX_NAME_LENGTH} characters"
        if problem is None and key == _GONE_SINCE and _parse_time(value) is None:
            problem = "is not an ISO 8601 time with a time zone"
        if problem is not None:
            log.warning("identity book: dropped %r of %r: the value %s; it is assigned again",
                        key, thing_id, problem)
            continue
        kept[key] = value
    return kept


def _parse_time(stamp: str) -> float | None:
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return None if when.tzinfo is None else when.timestamp()
