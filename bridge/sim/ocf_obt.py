"""A simulated OCF onboarding tool (OBT): owns devices, provisions clients, resets devices.

Layer: ``bridge.sim`` (the OCF side's client, its Random PIN ownership transfer
``bridge.ocf.onboarding`` and the DTLS library under it). What a network's onboarding tool
does to a secured device, here to test the gateway's secured bridge and virtual devices
(docs/ocf.md, "Secured virtual devices"):

1. :meth:`OnboardingTool.own`: the Random PIN ownership transfer (or
   :meth:`OnboardingTool.own_by_certificate`, the manufacturer certificate transfer against
   the tool's trust anchors); the tool becomes the device's owner (``devowneruuid`` and
   ``rowneruuid``) and holds the owner PSK;
2. :meth:`OnboardingTool.provision`: a client gets a pairwise PSK credential on the device
   (the tool chooses the key and hands it to the client) and, when given, ACEs; the device
   goes RFNOP -> RFPRO -> RFNOP around it, as OCF provisioning does;
3. :meth:`OnboardingTool.pair`: a pairwise credential between two devices the tool owns,
   the same key on each with the other as subject (how the tool lets the gateway's bridge
   device reach a device it owns; docs/ocf.md, "Devices owned by another onboarding tool");
4. :meth:`OnboardingTool.reset`: pstat RESET, the device is unowned again (RFOTM).

Nothing here logs a key.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from bridge.ocf import onboarding, svr
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import Endpoint
from bridge.ocf.sec_keys import nul_free_uuid

if TYPE_CHECKING:
    from bridge.ocf.mfg_trust import TrustAnchors

log = logging.getLogger("ocfaj.sim.obt")


@dataclass
class OwnedByTool:
    """A device the tool owns: its uuid after the transfer, the owner PSK, its coaps
    endpoint, and the pairwise keys of the clients it provisioned."""

    uuid: UUID
    key: bytes
    secure: Endpoint
    clients: dict[UUID, bytes] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show a key
        return f"OwnedByTool({self.uuid}, {self.secure.uri})"


def client_ace(client: UUID, hrefs: Sequence[str] = ("*",),
               permission: int = svr.READ | svr.UPDATE | svr.NOTIFY) -> dict[str, Any]:
    """The ACE body that grants ``client`` ``permission`` on ``hrefs`` (``*``: every
    resource that is not an SVR)."""
    return svr.owner_ace(client, tuple(hrefs), permission)


def role_ace(role: svr.Role, hrefs: Sequence[str] = ("*",),
             permission: int = svr.READ | svr.UPDATE | svr.NOTIFY) -> dict[str, Any]:
    """The ACE body that grants every client holding ``role`` (role, authority)
    ``permission`` on ``hrefs``."""
    return {"subject": svr.role_cbor(role), "permission": permission,
            "resources": [{"wc": "*"} if h == "*" else {"href": h} for h in hrefs]}


class OnboardingTool:
    """One onboarding tool with its own uuid (the owner of what it onboards)."""

    def __init__(self, own: UUID | None = None, *, request_timeout: float = 5.0) -> None:
        self.uuid = own or nul_free_uuid()
        self.request_timeout = request_timeout

    async def own(self, plain: Endpoint, secure: Endpoint, pin: str) -> OwnedByTool:
        """Random PIN transfer of the unowned device at ``plain``/``secure``; no ACE for
        anyone yet (the owner reaches the SVRs without one). Raises ``SecurityError``."""
        owned = await onboarding.take_ownership(plain, secure, pin, self.uuid, {},
                                                request_timeout=self.request_timeout)
        log.info("onboarding tool %s owns %s (uuid %s)", self.uuid, secure.uri, owned.uuid)
        return OwnedByTool(owned.uuid, owned.key, secure)

    async def own_by_certificate(self, plain: Endpoint, secure: Endpoint,
                                 anchors: TrustAnchors) -> OwnedByTool:
        """The manufacturer certificate transfer of the device at ``plain``/``secure``,
        whose chain must verify against ``anchors``. Raises ``SecurityError``."""
        owned = await onboarding.take_ownership_by_certificate(
            plain, secure, anchors, self.uuid, {}, request_timeout=self.request_timeout)
        log.info("onboarding tool %s owns %s by manufacturer certificate (uuid %s)",
                 self.uuid, secure.uri, owned.uuid)
        return OwnedByTool(owned.uuid, owned.key, secure)

    def _client(self, device: OwnedByTool) -> OcfClient:
        return OcfClient(self.request_timeout, 65536,
                         keyring=Keyring(self.uuid, {device.uuid: device.key}))

    async def provision(self, device: OwnedByTool, client: UUID,
                        aces: Sequence[dict[str, Any]] = (), *,
                        key: bytes | None = None, role: svr.Role | None = None) -> bytes:
        """A pairwise PSK for ``client`` on ``device`` (returned, for the client to hold;
        ``key`` or a new random one) and ``aces``; with ``role`` the credential grants the
        client that role (its ``roleid``). Raises ``DeviceError`` when the device refuses a
        step."""
        key = key or os.urandom(16)
        credential: dict[str, Any] = {
            "subjectuuid": str(client), "credtype": svr.CREDTYPE_PSK,
            "privatedata": {"encoding": "oic.sec.encoding.raw", "data": key}}
        if role is not None:
            credential["roleid"] = svr.role_cbor(role)
        await self._provisioning(device, [(svr.CRED, {"creds": [credential]}),
                                          *([(svr.ACL2, {"aclist2": list(aces)})] if aces
                                            else [])])
        device.clients[client] = key
        log.info("onboarding tool %s provisioned client %s on %s (%d ACEs)", self.uuid, client,
                 device.uuid, len(aces))
        return key

    async def grant(self, device: OwnedByTool, aces: Sequence[dict[str, Any]]) -> None:
        """Add ``aces`` to ``device`` (ACEs for roles or connection types need no credential
        of their own); raises ``DeviceError`` when the device refuses them."""
        await self._provisioning(device, [(svr.ACL2, {"aclist2": list(aces)})])
        log.info("onboarding tool %s granted %d ACEs on %s", self.uuid, len(aces), device.uuid)

    async def _provisioning(self, device: OwnedByTool,
                            posts: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """``posts`` over the owner session, inside RFNOP -> RFPRO -> RFNOP."""
        owner = self._client(device)
        await owner.start()
        try:
            await owner.post(device.secure, svr.PSTAT, {"dos": {"s": int(svr.DeviceState.RFPRO)}})
            for href, body in posts:
                await owner.post(device.secure, href, body)
            await owner.post(device.secure, svr.PSTAT, {"dos": {"s": int(svr.DeviceState.RFNOP)}})
        finally:
            await owner.shutdown()

    async def pair(self, server: OwnedByTool, client: OwnedByTool,
                   aces: Sequence[dict[str, Any]] | None = None) -> None:
        """``client`` (a device the tool owns, the gateway's bridge device) may reach
        ``server``: one new key as ``server``'s credential for ``client`` with ``aces``
        (default: every non-SVR resource, read, update, notify) and as ``client``'s
        credential for ``server``."""
        grants = [client_ace(client.uuid)] if aces is None else list(aces)
        key = await self.provision(server, client.uuid, grants)
        await self.provision(client, server.uuid, key=key)

    async def read(self, device: OwnedByTool, href: str) -> Any:
        """GET ``href`` over the owner session (the SVRs, for checks)."""
        owner = self._client(device)
        await owner.start()
        try:
            return await owner.get(device.secure, href)
        finally:
            await owner.shutdown()

    async def reset(self, device: OwnedByTool) -> None:
        """pstat RESET over the owner session: the device is unowned again."""
        await onboarding.offboard(device.secure, self.uuid, device.uuid, device.key,
                                  request_timeout=self.request_timeout)
        log.info("onboarding tool %s reset %s", self.uuid, device.uuid)
