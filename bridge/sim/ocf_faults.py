"""Fault injection for simulated OCF devices: dropped, delayed, failed and garbled answers.

Layer: ``bridge.sim`` (aiocoap glue around the OCF side's server). A :class:`FaultyEndpoint` is
the OCF side's :class:`~bridge.ocf.coap_server.CoapEndpoint` whose site asks the device's
:class:`~bridge.sim.device.Faults` what to do with each request to one of its resources:

- ``delay``: sleep that many seconds before answering (every request);
- DROP: send no response (a CON request gets only the empty ACK that RFC 7252 section 5.2.2
  allows, so the client waits for a separate response that never comes and times out);
- ERROR: answer with ``error_code`` as the CoAP code (503 -> 5.03) and a diagnostic payload;
- MALFORMED: answer with a payload that is not CBOR while claiming content format 10000.

``/oic/res``, ``/oic/d`` and ``/oic/p`` are never faulted, so a faulty device is still found
and identified and the faults land where clients handle them: reads, writes, observations.
It must not decide anything itself: every choice comes from ``Faults.decide()``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiocoap

from bridge.ocf import wire
from bridge.ocf.coap_messages import code_of, set_version, to_message
from bridge.ocf.coap_server import CoapEndpoint, _Site
from bridge.ocf.served import Reply, ServedDevice
from bridge.sim.device import FaultAction, SimDevice

#: Initial byte 0x1c is reserved in CBOR (RFC 8949 section 3): no decoder accepts it.
MALFORMED_PAYLOAD = b"\x1cinjected fault: not CBOR"
UNFAULTED_PATHS = frozenset({"/oic/res", "/oic/d", "/oic/p"})
#: RFC 7967 No-Response value "not interested in any response".
_NO_RESPONSE_ANY = 26


class _FaultySite(_Site):
    def __init__(self, endpoint: CoapEndpoint, device: SimDevice) -> None:
        super().__init__(endpoint)
        self._device = device

    async def render(self, request: Any) -> aiocoap.Message:
        faults = self._device.faults
        path = "/" + "/".join(request.opt.uri_path)
        if not faults.active or path in UNFAULTED_PATHS:
            return await super().render(request)
        action = await self._decide()
        if action is FaultAction.DROP:
            return aiocoap.Message(code=code_of(205), no_response=_NO_RESPONSE_ANY)
        return self._apply(action, await super().render(request))

    async def deliver(self, notification: aiocoap.Message) -> aiocoap.Message | None:
        if not self._device.faults.active:
            return notification
        action = await self._decide()
        return None if action is FaultAction.DROP else self._apply(action, notification)

    async def _decide(self) -> FaultAction:
        faults = self._device.faults
        action = faults.decide()
        if faults.delay:
            await asyncio.sleep(faults.delay)
        return action

    def _apply(self, action: FaultAction, message: aiocoap.Message) -> aiocoap.Message:
        faults = self._device.faults
        if action is FaultAction.ERROR:
            return to_message(Reply(faults.error_code, diagnostic=(
                f"injected fault: {self._device.name} answers {faults.error_code}")))
        if action is FaultAction.MALFORMED:
            message = aiocoap.Message(code=message.code, payload=MALFORMED_PAYLOAD,
                                      content_format=wire.CF_OCF_CBOR)
            set_version(message, wire.OPT_CONTENT_VERSION)
        return message


class FaultyEndpoint(CoapEndpoint):
    """A device's own CoAP endpoint that applies ``device.faults`` to every answer."""

    def __init__(self, device: SimDevice, own: ServedDevice, *, bind_host: str = "::",
                 port: int = 0) -> None:
        super().__init__(own, bind_host=bind_host, port=port)
        self._device = device

    async def start(self) -> int:
        port = await super().start()
        # aiocoap documents replacing the site of a running context through this attribute.
        self._context.serversite = _FaultySite(self, self._device)
        return port
