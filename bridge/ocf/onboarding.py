"""Ownership transfer of a secured OCF device by the gateway (Random PIN or manufacturer
certificate) and offboarding.

Layer: ``bridge.ocf`` I/O (OCF requests through ``OcfClient``, plain and coaps). The steps
(docs/ocf.md, "Onboarding a secured device"):

1. plain: read ``/oic/sec/doxm`` (must be unowned, offer the method), select it
   (``oxmsel`` 1, the device shows its PIN; or 2).
2. the ownership session: DTLS with identity ``oic.sec.doxm.rdp`` and the PSK from the PIN
   and the device's uuid (Random PIN), or the certificate suite 0xC0AE, whose chain must
   verify against the user's trust anchors before anything is sent (manufacturer
   certificate, ``bridge.ocf.mfg_trust``). Over it: set ``devowneruuid``, a new
   ``deviceuuid`` (chosen here, without a zero byte), ``rowneruuid`` in doxm and pstat, a
   PSK credential for the gateway with empty key (both sides derive the owner PSK from this
   session, with the method's label), ``owned`` true, then pstat RFPRO.
3. a new session with the owner PSK: the ACE that grants the gateway the device's
   resources, then pstat RFNOP.

The owner PSK is the gateway's pairwise credential with the device. Nothing here logs a key.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.core.errors import DeviceError, SecurityError
from bridge.ocf import dtls, dtls_lib, sec_keys, svr
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import Endpoint

if TYPE_CHECKING:
    from bridge.ocf.mfg_trust import TrustAnchors

log = logging.getLogger("ocfaj.ocf.onboarding")

RDP_HINT = b"oic.sec.doxm.rdp:"


@dataclass(frozen=True)
class OwnedDevice:
    """What the gateway keeps of a device it owns (the key lives in the credential store)."""

    uuid: uuid.UUID
    key: bytes
    secure: Endpoint
    #: the ``oxmsel`` of the transfer (``svr.RANDOM_PIN`` or ``svr.MFG_CERT``).
    method: int = svr.RANDOM_PIN


class _PinKeys:
    """The ownership session's key choice: only a Random PIN hint is answered."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def choose(self, _session: Any, hint: bytes) -> tuple[bytes, bytes] | None:
        if not hint.startswith(RDP_HINT):
            log.warning("onboarding: the device did not offer a Random PIN session; refused")
            return None
        return svr.RDP_IDENTITY, self._key


async def read_doxm(client: OcfClient, plain: Endpoint) -> dict[str, Any]:
    doxm = await client.get(plain, svr.DOXM)
    if not isinstance(doxm, dict):
        raise DeviceError(502, "/oic/sec/doxm is not a map")
    return doxm


def permission_for(interfaces: Sequence[str]) -> int:
    """What bridging needs of a resource: read and notify, and update when an interface
    allows writing."""
    writable = any(i in ("oic.if.a", "oic.if.rw", "oic.if.baseline") for i in interfaces) \
        and not any(i == "oic.if.s" for i in interfaces)
    return svr.READ | svr.NOTIFY | (svr.UPDATE if writable else 0)


async def select_method(plain: Endpoint, oxm: int, *,
                        request_timeout: float = 10.0) -> uuid.UUID:
    """Check that the device at ``plain`` is unowned and offers ``oxm``, select it; returns
    the device's uuid before the transfer."""
    plain_client = OcfClient(request_timeout, 65536)
    await plain_client.start()
    try:
        doxm = await read_doxm(plain_client, plain)
        if doxm.get("owned"):
            raise SecurityError(plain.uri, "the device is owned already")
        if oxm not in (doxm.get("oxms") or []):
            raise SecurityError(plain.uri, f"the device offers no {METHOD_NAMES[oxm]} "
                                           f"transfer (oxms {doxm.get('oxms')})")
        old_uuid = svr.parse_uuid(doxm.get("deviceuuid"), "deviceuuid")
        await plain_client.post(plain, svr.DOXM, {"oxmsel": oxm})
    finally:
        await plain_client.shutdown()
    return old_uuid


#: How log lines and messages name the methods this module performs.
METHOD_NAMES = {svr.RANDOM_PIN: "Random PIN", svr.MFG_CERT: "manufacturer certificate"}


async def take_ownership(plain: Endpoint, secure: Endpoint, pin: str, owner: uuid.UUID,
                         grants: dict[str, int], *, request_timeout: float = 10.0) -> OwnedDevice:
    """Own the device at ``plain``/``secure`` with ``pin``; ``grants`` maps each resource the
    gateway bridges to its ACE permission. Raises ``SecurityError`` (wrong PIN, refused
    step) or ``DeviceError``."""
    old_uuid = await select_method(plain, svr.RANDOM_PIN, request_timeout=request_timeout)
    otm = OcfClient(request_timeout, 65536, keyring=_PinKeys(sec_keys.pin_psk(pin, old_uuid)))
    return await _transfer(otm, plain, secure, owner, grants, svr.RANDOM_PIN, "wrong PIN?",
                           request_timeout)


class _ChainCheck:
    """The certificate session's trust decision; keeps the refusal to report it."""

    def __init__(self, anchors: TrustAnchors, peer: str) -> None:
        self.anchors = anchors
        self.peer = peer
        self.refusal: SecurityError | None = None
        self.subject = ""

    def __call__(self, session: dtls.DtlsSession) -> None:
        try:
            leaf = self.anchors.verify(self.peer, session.peer_certificates())
        except SecurityError as err:
            self.refusal = err
            log.warning("onboarding %s: %s; nothing was sent over the session", self.peer,
                        err.message)
            raise
        self.subject = leaf.subject.rfc4514_string()

    @staticmethod
    def no_psk(_session: Any, _hint: bytes) -> None:
        return None


async def take_ownership_by_certificate(plain: Endpoint, secure: Endpoint,
                                        anchors: TrustAnchors, owner: uuid.UUID,
                                        grants: dict[str, int], *,
                                        request_timeout: float = 10.0) -> OwnedDevice:
    """Own the device at ``plain``/``secure`` by its manufacturer certificate, which must
    verify against ``anchors``. Raises ``SecurityError`` (certificate refused: expired, not
    issued by a trusted CA, not to the profile; refused step) or ``DeviceError``; a refused
    certificate leaves the device unowned (only ``oxmsel`` 2 stays selected)."""
    await select_method(plain, svr.MFG_CERT, request_timeout=request_timeout)
    check = _ChainCheck(anchors, plain.uri)
    context = dtls.client_context(_ChainCheck.no_psk, ciphers=dtls_lib.CERT_CIPHERS,
                                  check_peer=check)
    otm = OcfClient(request_timeout, 65536, dtls_context=context)
    try:
        owned = await _transfer(otm, plain, secure, owner, grants, svr.MFG_CERT,
                                "certificate suite", request_timeout)
    except SecurityError:
        if check.refusal is not None:
            raise check.refusal from None
        raise
    log.info("OCF device %s proved manufacturer certificate %r", plain.uri, check.subject)
    return owned


async def _transfer(otm: OcfClient, plain: Endpoint, secure: Endpoint, owner: uuid.UUID,
                    grants: dict[str, int], oxm: int, hint: str,
                    request_timeout: float) -> OwnedDevice:
    """The ownership session's steps, the same for every method, then provisioning."""
    new_uuid = sec_keys.nul_free_uuid()
    await otm.start()
    try:
        try:
            await otm.post(secure, svr.DOXM, {"devowneruuid": str(owner)})
        except DeviceError as err:
            raise SecurityError(plain.uri, f"the ownership session failed ({hint}): "
                                           f"{err.message}") from None
        await otm.post(secure, svr.DOXM, {"deviceuuid": str(new_uuid)})
        await otm.post(secure, svr.DOXM, {"rowneruuid": str(owner)})
        await otm.post(secure, svr.PSTAT, {"rowneruuid": str(owner)})
        material = otm.coaps.key_material(secure.host, secure.port)
        block = sec_keys.key_block(material.master, material.client_random,
                                   material.server_random, material.cipher)
        key = sec_keys.owner_psk(block, oxm, owner, new_uuid)
        await otm.post(secure, svr.CRED, {"creds": [{
            "subjectuuid": str(owner), "credtype": svr.CREDTYPE_PSK,
            "privatedata": {"encoding": "oic.sec.encoding.raw", "data": b""}}]})
        await otm.post(secure, svr.DOXM, {"owned": True})
        await otm.post(secure, svr.PSTAT, {"dos": {"s": int(svr.DeviceState.RFPRO)}})
    finally:
        await otm.shutdown()
    log.info("OCF device %s is owned by %s, by %s (new uuid %s); provisioning",
             plain.uri, owner, METHOD_NAMES[oxm], new_uuid)
    await provision(secure, owner, new_uuid, key, grants, request_timeout=request_timeout)
    return OwnedDevice(new_uuid, key, secure, oxm)


async def provision(secure: Endpoint, owner: uuid.UUID, device: uuid.UUID, key: bytes,
                    grants: dict[str, int], *, request_timeout: float = 10.0) -> None:
    """Over a session with the owner PSK: the gateway's ACEs, then RFNOP."""
    client = OcfClient(request_timeout, 65536, keyring=Keyring(owner, {device: key}))
    await client.start()
    try:
        by_permission: dict[int, list[str]] = {}
        for href, permission in sorted(grants.items()):
            by_permission.setdefault(permission, []).append(href)
        aces = [svr.owner_ace(owner, tuple(hrefs), permission)
                for permission, hrefs in sorted(by_permission.items())]
        if aces:
            await client.post(secure, svr.ACL2, {"aclist2": aces})
        await client.post(secure, svr.PSTAT, {"dos": {"s": int(svr.DeviceState.RFNOP)}})
    finally:
        await client.shutdown()


async def offboard(secure: Endpoint, owner: uuid.UUID, device: uuid.UUID, key: bytes, *,
                   request_timeout: float = 10.0) -> None:
    """Reset the device to RFOTM (pstat RESET over the owner session)."""
    client = OcfClient(request_timeout, 65536, keyring=Keyring(owner, {device: key}))
    await client.start()
    try:
        await client.post(secure, svr.PSTAT, {"dos": {"s": int(svr.DeviceState.RESET)}})
    finally:
        await client.shutdown()
