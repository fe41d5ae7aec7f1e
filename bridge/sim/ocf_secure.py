"""A secured simulated OCF device: unowned at start, shows a PIN, owned over DTLS.

Layer: ``bridge.sim`` (the OCF side's server; the device side of OCF security is
``bridge.ocf.svr_device``, shared with the gateway's secured virtual devices). The device
answers plain CoAP on its port and coaps on a second port of the same aiocoap context. Every
request passes ``SecuredDevice.answer_first`` first (the reference stack's access rules,
docs/security.md "Secured OCF devices"); the SVRs are served from ``SecureState``, everything
else by the ordinary simulated device. The PIN is random, 8 digits, and new after every reset.
Given a manufacturer certificate (``--mfg-cert``, ``--mfg-key``, ``--mfg-chain``) it also
offers the certificate ownership transfer (``oxms`` [1, 2]).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bridge.ocf import svr
from bridge.ocf.sec_keys import nul_free_uuid
from bridge.ocf.served import Reply, ServedDevice
from bridge.ocf.svr_device import SecuredDevice
from bridge.sim.device import SimDevice
from bridge.sim.ocf import OcfSimServer, SimListing
from bridge.sim.ocf_faults import FaultyEndpoint
from bridge.sim.ocf_identity import OcfSimIdentity
from bridge.sim.ocf_secure_state import SecureStateFile

if TYPE_CHECKING:
    from bridge.ocf.mfg_trust import DeviceCertificate

log = logging.getLogger("ocfaj.sim.secure")


class SecureEndpoint(FaultyEndpoint):
    """The device's endpoint: plain CoAP plus coaps, both behind the device's ACL."""

    def __init__(self, device: SimDevice, own: ServedDevice, security: SecuredDevice, *,
                 bind_host: str = "::", port: int = 0, coaps_port: int = 0) -> None:
        super().__init__(device, own, bind_host=bind_host, port=port)
        self.security = security
        self._bind_host = bind_host
        self._coaps_port = coaps_port

    @property
    def pin(self) -> str:
        return self.security.pin

    @property
    def coaps_port(self) -> int:
        return self.security.coaps_port

    async def start(self) -> int:
        port = await super().start()
        try:
            await self.security.serve_on(self._context, self._bind_host, lambda: self.own,
                                         self._coaps_port)
        except OSError as err:
            if not self._coaps_port:
                raise
            log.warning("secured device %s: coaps port %d is not free (%s); serving coaps on "
                        "another one", self.security.name, self._coaps_port, err.strerror)
            await self.security.serve_on(self._context, self._bind_host, lambda: self.own)
        return port

    async def shutdown(self) -> None:
        await super().shutdown()
        self.security.stopped()

    async def answer(self, message: Any) -> Reply:
        first = self.security.answer_first(message, 16384)
        if first is not None:
            return first
        return await super().answer(message)


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
    the reference stack lists secured resources. With ``state_file`` its SVRs, ``piid`` and
    ``pi`` are loaded from that file at construction and saved to it after every change
    (``bridge.sim.ocf_secure_state``); a file that does not load raises ``ValueError``.
    """

    def __init__(self, device: SimDevice, *args: Any,
                 state_file: SecureStateFile | None = None,
                 certificate: DeviceCertificate | None = None, **kwargs: Any) -> None:
        saved = state_file.load() if state_file is not None else None
        self.state_file = state_file
        self._coaps_port = saved.coaps_port if saved is not None else 0
        self.security = saved.state if saved is not None else svr.SecureState(nul_free_uuid())
        self.secured = SecuredDevice(self.security, device.name, certificate=certificate)
        if saved is not None:
            kwargs["identity"] = OcfSimIdentity(piid=saved.piid, pi=saved.pi,
                                                di=str(saved.state.device))
        super().__init__(device, *args, **kwargs)
        if state_file is not None:
            self.secured.listeners.append(self._save)
            self._save()

    def _save(self) -> None:
        assert self.state_file is not None
        try:
            self.state_file.save(self.security, self.piid, self.pi,
                                 self.secured.coaps_port or self._coaps_port)
        except OSError as err:
            log.error("secured device %s: cannot save its security to %s (%s); the last "
                      "change is lost at its next start", self.device.name,
                      self.state_file.path, err.strerror)

    def _build(self) -> ServedDevice:
        self.di = str(self.security.device)
        served = super()._build()
        served.link_eps = self.secured.link_eps
        return served

    def reset(self) -> dict[str, Any]:
        """What a user's reset button does: back to RFOTM, unowned, a new uuid and PIN, every
        DTLS session closed. Returns the new facts (``pin``, ``deviceuuid``)."""
        self.secured.reset()
        self.di = str(self.security.device)
        return {"di": self.di, "deviceuuid": self.di, "pin": self.secured.pin}

    async def start(self) -> Mapping[str, Any]:
        if self.endpoint is None:
            endpoint = SecureEndpoint(self.device, self.served, self.secured,
                                      bind_host=self._bind_host, port=self._requested_port,
                                      coaps_port=self._coaps_port)
            self.endpoint = endpoint
            await endpoint.start()
            if self.state_file is not None:
                self._coaps_port = endpoint.coaps_port  # kept for a return and a restart
                self._save()
            if self not in self.listing.servers:
                self.listing.servers.append(self)
            await self.listing.start()
            self.listing.answer_also(_DoxmResponder(self.listing))
            if self.security.owned:
                log.warning("secured device %s is owned by %s (uuid %s, %s)",
                            self.device.name, self.security.devowner, self.security.device,
                            self.security.state.name)
            else:
                log.warning("secured device %s is unowned; its PIN is %s", self.device.name,
                            endpoint.pin)
        facts = dict(await super().start())
        secured = self.endpoint
        assert isinstance(secured, SecureEndpoint)
        return {**facts, "di": str(self.security.device), "secure": True, "pin": secured.pin,
                "coaps_port": secured.coaps_port, "deviceuuid": str(self.security.device),
                "oxms": list(self.security.oxms)}
