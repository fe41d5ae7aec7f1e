"""A secured simulated OCF device: unowned at start, shows a PIN, owned over DTLS.

Layer: ``bridge.sim`` (the OCF side's server, ``bridge.ocf.coaps`` for DTLS and the pure
``bridge.ocf.svr`` rules). The device answers plain CoAP on its port and coaps on a second
port of the same aiocoap context. Every request passes ``SecureState.check`` first (the
reference stack's access rules, docs/security.md "Secured OCF devices"); the SVRs are served
from ``SecureState``, everything else by the ordinary simulated device. The PSK identity hint
follows the state: ``oic.sec.doxm.rdp:`` and the uuid while it waits for a Random PIN transfer,
the device uuid afterwards. The PIN is random, 8 digits, and new after every reset.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bridge.ocf import coaps, dtls, sec_keys, svr, wire
from bridge.ocf.coap_messages import to_request
from bridge.ocf.served import Reply, ServedDevice, ServedResource
from bridge.sim.device import SimDevice
from bridge.sim.ocf import OcfSimServer, SimListing
from bridge.sim.ocf_faults import FaultyEndpoint

log = logging.getLogger("ocfaj.sim.secure")


def new_pin() -> str:
    return f"{secrets.randbelow(10 ** 8):08d}"


class SecureEndpoint(FaultyEndpoint):
    """The device's endpoint: plain CoAP plus coaps, both behind the device's ACL."""

    def __init__(self, device: SimDevice, own: ServedDevice, state: svr.SecureState, *,
                 bind_host: str = "::", port: int = 0) -> None:
        super().__init__(device, own, bind_host=bind_host, port=port)
        self.state = state
        self.pin = new_pin()
        self._pin_uuid = state.device
        self._bind_host = bind_host
        self.coaps: coaps.CoapsInterface | None = None

    async def start(self) -> int:
        port = await super().start()
        if self.coaps is None:
            self.coaps = await coaps.attach(self._context, server_context=self._dtls_context(),
                                            host=self._bind_host)
            self.state.on_change = self._state_changed
        return port

    @property
    def coaps_port(self) -> int:
        return self.coaps.local_address[1] if self.coaps is not None else 0

    def _dtls_context(self) -> Any:
        waiting = self.state.state == svr.DeviceState.RFOTM
        hint = (b"oic.sec.doxm.rdp:" + self.state.device.bytes if waiting
                else self.state.device.bytes)
        return dtls.server_context(hint, self._find_key)

    def _state_changed(self) -> None:
        device_id = str(self.state.device)
        if self.own is not None and self.own.di != device_id:
            # An OCF device's di is its doxm deviceuuid: it changes at ownership and reset.
            self.own.di = device_id
            self.own.device = {**self.own.device, "di": device_id}
        if self.state.state == svr.DeviceState.RFOTM and not self.state.owned \
                and self.state.device != self._pin_uuid and self.state.devowner == svr.NIL:
            self.pin = new_pin()  # a reset: a new uuid and a new PIN
            self._pin_uuid = self.state.device
            log.warning("secured device %s was reset; new PIN %s", self._device.name, self.pin)
        if self.coaps is not None:
            self.coaps.use_server_context(self._dtls_context())

    def _find_key(self, _session: Any, identity: bytes) -> bytes | None:
        state = self.state
        if identity == svr.RDP_IDENTITY:
            if state.state == svr.DeviceState.RFOTM and state.oxmsel == svr.RANDOM_PIN:
                return sec_keys.pin_psk(self.pin, self._pin_uuid)
            return None
        if len(identity) != 16:
            return None
        return state.key_for(uuid.UUID(bytes=identity))

    def _derive_owner_key(self, remote: Any, owner: uuid.UUID) -> bytes:
        host, port = remote.address
        if self.coaps is None:
            raise svr.SvrRefused(400, "no ownership session")
        material = self.coaps.key_material(host, port)
        block = sec_keys.key_block(material.master, material.client_random,
                                   material.server_random, material.cipher)
        return sec_keys.owner_psk(block, self.state.oxmsel, owner, self.state.device)

    async def answer(self, message: Any) -> Reply:
        remote = message.remote
        secure = isinstance(remote, coaps.CoapsRemote)
        identity = remote.identity if secure else b""
        ownership = secure and identity == svr.RDP_IDENTITY
        subject = uuid.UUID(bytes=identity) if secure and len(identity) == 16 else None
        request = to_request(message, 16384)
        observe = message.opt.observe == 0
        try:
            self.state.check(request.path, svr.method_permission(request.method, observe),
                             secure=secure, subject=subject, ownership=ownership)
            if request.path in svr.SVRS:
                return self._svr(request, remote, ownership)
        except svr.SvrRefused as err:
            log.info("secured device %s: %s %s refused (%d: %s)", self._device.name,
                     request.method, request.path, err.code, err.message)
            return Reply(err.code, silent=request.multicast, diagnostic=err.message)
        return await super().answer(message)

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
            return Reply(202)
        if request.method != "POST":
            return Reply(405, diagnostic=f"{request.method} not allowed on {request.path}")
        try:
            body = wire.decode(request.payload)
        except wire.PayloadError as err:
            return Reply(400, diagnostic=str(err))
        self.state.post(request.path, body, ownership=ownership, session=remote,
                        derive_owner_key=self._derive_owner_key)
        log.info("secured device %s: %s updated (state %s, owned %s)", self._device.name,
                 request.path, self.state.state.name, self.state.owned)
        return Reply(204)


class _DoxmResponder:
    """Answers the multicast ``/oic/sec/doxm`` that reaches the process's ``/oic/res``
    responder (UDP 5683) for the first of its secured devices that answers at all: one
    CoAP answer per request, so a process with several secured devices reveals one per
    multicast request (the reference stack answers from each device's own port)."""

    def __init__(self, listing: SimListing) -> None:
        self._listing = listing

    async def __call__(self, message: Any) -> Reply | None:
        if "/".join(message.opt.uri_path) != svr.DOXM.strip("/"):
            return None
        for server in self._listing.servers:
            endpoint = server.endpoint
            if isinstance(endpoint, SecureEndpoint):
                reply = await endpoint.answer(message)
                if not reply.silent:
                    return reply
        return Reply(404, silent=True)


class SecureOcfSimServer(OcfSimServer):
    """An :class:`OcfSimServer` whose device is secured (``ocfaj simulate ocf --secure``).

    Its ``di`` is the doxm ``deviceuuid`` (new at ownership and at a reset, kept when the
    device leaves and returns). Its ``/oic/res`` lists the coaps endpoint beside the plain
    one for ``/oic/d`` and ``/oic/p``, and only the coaps one for every other resource, as
    the reference stack lists secured resources.
    """

    def __init__(self, device: SimDevice, *args: Any, **kwargs: Any) -> None:
        self.security = svr.SecureState(sec_keys.nul_free_uuid())
        super().__init__(device, *args, **kwargs)

    def _build(self) -> ServedDevice:
        self.di = str(self.security.device)
        served = super()._build()
        served.link_eps = self._link_eps
        return served

    def reset(self) -> dict[str, Any]:
        """What a user's reset button does: back to RFOTM, unowned, a new uuid and PIN, every
        DTLS session closed. Returns the new facts (``pin``, ``deviceuuid``)."""
        self.security.reset()
        endpoint = self.endpoint
        if isinstance(endpoint, SecureEndpoint):
            endpoint._state_changed()
            if endpoint.coaps is not None:
                endpoint.coaps.close_sessions()
        self.di = str(self.security.device)
        pin = endpoint.pin if isinstance(endpoint, SecureEndpoint) else ""
        return {"di": self.di, "deviceuuid": self.di, "pin": pin}

    def _link_eps(self, resource: ServedResource, eps: Sequence[str]) -> list[str]:
        port = self.endpoint.coaps_port if isinstance(self.endpoint, SecureEndpoint) else 0
        secure = [ep.replace("coap://", "coaps://", 1).rsplit(":", 1)[0] + f":{port}"
                  for ep in eps if ep.startswith("coap://")] if port else []
        if resource.href in ("/oic/d", "/oic/p"):
            return [*eps, *secure]
        return secure

    async def start(self) -> Mapping[str, Any]:
        if self.endpoint is None:
            endpoint = SecureEndpoint(self.device, self.served, self.security,
                                      bind_host=self._bind_host, port=self._requested_port)
            self.endpoint = endpoint
            await endpoint.start()
            if self not in self.listing.servers:
                self.listing.servers.append(self)
            await self.listing.start()
            self.listing.answer_also(_DoxmResponder(self.listing))
            log.warning("secured device %s is unowned; its PIN is %s", self.device.name,
                        endpoint.pin)
        facts = dict(await super().start())
        secured = self.endpoint
        assert isinstance(secured, SecureEndpoint)
        return {**facts, "di": str(self.security.device), "secure": True, "pin": secured.pin,
                "coaps_port": secured.coaps_port, "deviceuuid": str(self.security.device)}
