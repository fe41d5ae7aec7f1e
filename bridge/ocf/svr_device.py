"""The device side of OCF security for one served device: its DTLS server, PIN and SVRs.

Layer: ``bridge.ocf`` I/O (a coaps transport on an aiocoap context; the rules are the pure
``bridge.ocf.svr``). Both kinds of secured devices this project serves use it: the simulated
secured device (``bridge.sim.ocf_secure``) and the gateway's secured virtual and bridge
devices (``bridge.ocf.secured_endpoint``). The endpoint that serves the device calls
:meth:`SecuredDevice.answer_first` for every request before anything else: the answer is
either the SVR's own (``/oic/sec/*``), a refusal (4.01 in clear, 4.03 over DTLS), or None,
which lets the request through to the device's resources (docs/security.md, "Which check
runs where").

The PSK identity hint follows the state: ``oic.sec.doxm.rdp:`` and the uuid while the
device waits for a Random PIN transfer, the device uuid afterwards. OpenSSL sends hints as C
strings, so a uuid with a zero byte goes out cut before it (``bridge.ocf.dtls_lib``); client
identities arrive the same way and are matched as prefixes (``SecureState.subject_of``).
The PIN is random, 8 digits, held in memory only, and new after every reset.

With a manufacturer certificate (``bridge.ocf.mfg_trust.DeviceCertificate``) the device
also offers the certificate ownership transfer (``oxms`` 1 and 2): once an onboarding tool
selected it (``oxmsel`` 2, in RFOTM), the DTLS server serves the certificate suite
(0xC0AE) with that certificate and its chain instead of the PSK suite, and a session of
that suite is the ownership session (docs/security.md, "Manufacturer certificates").
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bridge.ocf import coaps, dtls, dtls_lib, sec_keys, svr, wire
from bridge.ocf.coap_messages import to_request
from bridge.ocf.served import Reply, ServedDevice, ServedResource

if TYPE_CHECKING:
    from bridge.ocf.mfg_trust import DeviceCertificate

log = logging.getLogger("ocfaj.ocf.security")

RDP_HINT = b"oic.sec.doxm.rdp:"

#: Why ownership must wait, or None when the device may be owned now.
Ownable = Callable[[], "str | None"]


def new_pin() -> str:
    return f"{secrets.randbelow(10 ** 8):08d}"


def c_string(value: bytes) -> bytes:
    """``value`` up to its first zero byte: what OpenSSL can carry of it."""
    return value.split(b"\0", 1)[0]


class SecuredDevice:
    """One device's security: ``state`` (its SVRs), its PIN, its coaps transport.

    ``name`` is for log lines. ``ownable`` (optional) says why ownership must wait (the
    gateway's virtual devices wait for their bridge device); ``on_change`` listeners are
    told after every change of the SVRs (to persist them, to follow a new uuid).
    ``certificate`` (optional) adds the manufacturer certificate transfer to ``oxms``.
    """

    def __init__(self, state: svr.SecureState, name: str, *,
                 ownable: Ownable | None = None,
                 certificate: DeviceCertificate | None = None) -> None:
        self.state = state
        self.name = name
        self.ownable = ownable
        self.certificate = certificate
        state.oxms = (svr.RANDOM_PIN, svr.MFG_CERT) if certificate else (svr.RANDOM_PIN,)
        self.pin = new_pin()
        self._pin_uuid = state.device
        self._last_state = state.state
        self.coaps: coaps.CoapsInterface | None = None
        self.listeners: list[Callable[[], None]] = []
        self._served: Callable[[], ServedDevice | None] | None = None
        state.on_change = self.changed

    # -- transport ----------------------------------------------------------------------

    async def attach(self, context: Any, host: str, port: int = 0) -> None:
        """Serve coaps on ``port`` (0: an ephemeral one) of ``context`` (an aiocoap server
        context)."""
        self.coaps = await coaps.attach(context, server_context=self._dtls_context(),
                                        host=host or "::", port=port)

    def detached(self) -> None:
        """The context (and with it the coaps transport) was shut down."""
        self.coaps = None

    async def serve_on(self, context: Any, host: str,
                       served: Callable[[], ServedDevice | None], port: int = 0) -> None:
        """Serve coaps on ``context`` (once; on ``port``, 0: an ephemeral one) and keep the
        ``di`` of the device ``served()`` returns equal to the doxm deviceuuid, which
        changes at ownership and at a reset."""
        if self.coaps is not None:
            return
        await self.attach(context, host, port)
        self._served = served
        self.listeners.append(self.follow_uuid)

    def stopped(self) -> None:
        """The endpoint that :meth:`serve_on` served was shut down."""
        self.detached()
        if self.follow_uuid in self.listeners:
            self.listeners.remove(self.follow_uuid)

    def follow_uuid(self) -> None:
        self.sync_di(self._served() if self._served is not None else None)

    def sync_di(self, device: ServedDevice | None) -> None:
        """An OCF device's ``di`` is its doxm deviceuuid."""
        di = str(self.state.device)
        if device is not None and device.di != di:
            device.di = di
            device.device = {**device.device, "di": di}

    @property
    def coaps_port(self) -> int:
        return self.coaps.local_address[1] if self.coaps is not None else 0

    def _dtls_context(self) -> Any:
        waiting = self.state.state == svr.DeviceState.RFOTM
        if waiting and self.state.oxmsel == svr.MFG_CERT and self.certificate is not None:
            certificate, key, chain = self.certificate.for_dtls()
            return dtls.server_context(c_string(self.state.device.bytes), self._find_key,
                                       ciphers=dtls_lib.CERT_CIPHERS, certificate=certificate,
                                       key=key, chain=chain)
        hint = RDP_HINT + self.state.device.bytes if waiting else self.state.device.bytes
        return dtls.server_context(c_string(hint), self._find_key)

    def _find_key(self, _session: Any, identity: bytes) -> bytes | None:
        state = self.state
        if identity == svr.RDP_IDENTITY:
            if state.state == svr.DeviceState.RFOTM and state.oxmsel == svr.RANDOM_PIN \
                    and self.waits_for() is None:
                return sec_keys.pin_psk(self.pin, self._pin_uuid)
            return None
        subject = state.subject_of(identity)
        return None if subject is None else state.key_for(subject)

    def _derive_owner_key(self, remote: Any, owner: uuid.UUID) -> bytes:
        host, port = remote.address
        if self.coaps is None:
            raise svr.SvrRefused(400, "no ownership session")
        material = self.coaps.key_material(host, port)
        block = sec_keys.key_block(material.master, material.client_random,
                                   material.server_random, material.cipher)
        return sec_keys.owner_psk(block, self.state.oxmsel, owner, self.state.device)

    def waits_for(self) -> str | None:
        return self.ownable() if self.ownable is not None else None

    # -- state --------------------------------------------------------------------------

    @property
    def facts(self) -> dict[str, Any]:
        """What the user sees of it (``ocfaj devices``, MQTT): the PIN only while unowned."""
        state = self.state
        facts: dict[str, Any] = {"owned": state.owned, "state": state.state.name,
                                 "deviceuuid": str(state.device)}
        if not state.owned:
            facts["pin"] = self.pin
            waiting = self.waits_for()
            if waiting:
                facts["waiting"] = waiting
        return facts

    def changed(self) -> None:
        """After every change of the SVRs: a new PIN after a reset, the hint follows."""
        state = self.state
        back = state.state == svr.DeviceState.RFOTM and self._last_state != state.state
        renewed = (state.state == svr.DeviceState.RFOTM and not state.owned
                   and state.device != self._pin_uuid and state.devowner == svr.NIL)
        self._last_state = state.state
        if back or renewed:
            self.pin = new_pin()  # a reset: a new PIN (and a new uuid)
            self._pin_uuid = state.device
            log.warning("secured OCF device %s was reset (uuid %s); new PIN %s", self.name,
                        state.device, self.pin)
        if self.coaps is not None:
            self.coaps.use_server_context(self._dtls_context())
        for listener in list(self.listeners):
            listener()

    def reset(self) -> None:
        """What a user's reset does: back to RFOTM, unowned, every DTLS session closed."""
        self.state.reset()
        self.changed()
        if self.coaps is not None:
            self.coaps.close_sessions()

    def link_eps(self, resource: ServedResource, eps: Sequence[str]) -> list[str]:
        """``eps`` of one link: the coaps endpoints beside the plain ones for ``/oic/d`` and
        ``/oic/p``, only the coaps ones for every other resource (as the reference stack)."""
        port = self.coaps_port
        secure = [ep.replace("coap://", "coaps://", 1).rsplit(":", 1)[0] + f":{port}"
                  for ep in eps if ep.startswith("coap://")] if port else []
        if resource.href in ("/oic/d", "/oic/p"):
            return [*eps, *secure]
        return secure

    # -- requests -----------------------------------------------------------------------

    def answer_first(self, message: Any, max_payload: int,
                     interfaces: Callable[[str], tuple[str, ...]] | None = None
                     ) -> Reply | None:
        """The answer to ``message`` (an aiocoap request) when security decides it: an SVR
        or a refusal; None lets it through. ``interfaces(href)`` gives a resource's
        interfaces for ACEs that name interfaces."""
        remote = message.remote
        secure = isinstance(remote, coaps.CoapsRemote)
        identity = remote.identity if secure else b""
        # the certificate suite is served only for the certificate transfer (RFOTM,
        # oxmsel 2): its sessions are ownership sessions while the device is in RFOTM. Any
        # client can open one (no client certificate), so one left open past the transfer
        # gets nothing: the owner continues over a PSK session.
        by_certificate = (secure and remote.cipher == dtls_lib.CERT_SUITE
                          and self.state.state == svr.DeviceState.RFOTM)
        ownership = secure and (identity == svr.RDP_IDENTITY or by_certificate)
        subject = self.state.subject_of(identity) if secure and not ownership else None
        request = to_request(message, max_payload)
        permission = svr.method_permission(request.method, message.opt.observe == 0)
        try:
            self.state.check(request.path, permission, secure=secure, subject=subject,
                             ownership=ownership,
                             interfaces=interfaces(request.path) if interfaces else ())
            if request.path in svr.SVRS:
                return self._svr(request, remote, ownership)
        except svr.SvrRefused as err:
            log.info("secured OCF device %s: %s %s from %s refused (%d: %s)", self.name,
                     request.method, request.path, _who(remote, subject), err.code,
                     err.message)
            return Reply(err.code, silent=request.multicast, diagnostic=err.message)
        return None

    def _svr(self, request: Any, remote: Any, ownership: bool) -> Reply:
        if request.method == "GET":
            if request.path == svr.DOXM and not svr.doxm_matches(self.state.owned,
                                                                request.query):
                # the reference stack: silent to a multicast filter that does not match,
                # 4.00 to a unicast one
                return Reply(400, silent=request.multicast,
                             diagnostic=f"doxm does not match {'&'.join(request.query)}")
            return Reply(205, body=self.state.representation(request.path))
        if request.method == "DELETE" and request.path == svr.CRED:
            subjects = [q.split("=", 1)[1] for q in request.query if q.startswith("subjectuuid=")]
            self.state.delete_cred(svr.parse_uuid(subjects[0], "subjectuuid")
                                   if subjects else None)
            self.changed()
            return Reply(202)
        if request.method != "POST":
            return Reply(405, diagnostic=f"{request.method} not allowed on {request.path}")
        try:
            body = wire.decode(request.payload)
        except wire.PayloadError as err:
            return Reply(400, diagnostic=str(err))
        if request.path == svr.DOXM and isinstance(body, dict) and "oxmsel" in body:
            waiting = self.waits_for()
            if waiting:
                raise svr.SvrRefused(403, waiting)
        self.state.post(request.path, body, ownership=ownership, session=remote,
                        derive_owner_key=self._derive_owner_key)
        log.info("secured OCF device %s: %s updated (state %s, owned %s)", self.name,
                 request.path, self.state.state.name, self.state.owned)
        return Reply(204)


def _who(remote: Any, subject: uuid.UUID | None) -> str:
    host = getattr(remote, "hostinfo", "?")
    if isinstance(remote, coaps.CoapsRemote):
        named = subject or remote.identity.decode("ascii", "replace") or remote.cipher
        return f"{host} (DTLS, {named})"
    return f"{host} (clear)"
