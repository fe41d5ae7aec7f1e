"""Fault injection for simulated OCF devices: dropped, delayed, failed and garbled answers.

Layer: ``bridge.sim`` (aiocoap glue around the OCF side's server). A :class:`FaultyEndpoint` is
the OCF side's :class:`~bridge.ocf.coap_server.CoapEndpoint` whose site asks the device's
:class:`~bridge.sim.device.Faults` what to do with each request to one of its resources:

- ``delay``: sleep that many seconds before answering (every request);
- DROP: send no response (a CON request gets only the empty ACK that RFC 7252 section 5.2.2
  allows, so the client waits for a separate response that never comes and times out);
- ERROR: answer with ``error_code`` as the CoAP code (503 -> 5.03) and a diagnostic payload,
  without carrying the request out (a refused write changes nothing);
- MALFORMED: answer with a payload that is not CBOR while claiming content format 10000;
- ``observe_answer``: a request to observe a faulted resource is answered as a plain read
  (``plain``: no Observe option, so the client is not registered), refused with
  ``error_code`` (``error``), the way stacks answer for resources they do not let be
  observed, or not answered at all (``silent``, as DROP does).

By default ``/oic/res``, ``/oic/d`` and ``/oic/p`` are not faulted, so a faulty device is still
found and identified and the faults land where clients handle them: reads, writes,
observations. ``Faults.paths`` names the hrefs to fault instead, the core ones included. A
process's multicast ``/oic/res`` responder (:class:`FaultyListingEndpoint`) applies the faults
of the first device whose ``paths`` name ``/oic/res``, and answers errors even to multicast
requests, which a well-behaved server never does (RFC 7252 section 8.2).
It must not decide anything itself: every choice comes from ``Faults.decide()``. Each site
counts the GETs it is asked, by href, plain reads and observe registrations apart
(``FaultyEndpoint.requests``, reported by the simulator's ``stats`` command), so that a test
can tell how a client read a device.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import aiocoap
from aiocoap.numbers.codes import Code

from bridge.ocf import wire
from bridge.ocf.coap_messages import code_of, set_version, to_message
from bridge.ocf.coap_server import CoapEndpoint, Listed, _Site
from bridge.ocf.served import Reply, ServedDevice
from bridge.sim.device import FaultAction, Faults, SimDevice

#: Initial byte 0x1c is reserved in CBOR (RFC 8949 section 3): no decoder accepts it.
MALFORMED_PAYLOAD = b"\x1cinjected fault: not CBOR"
#: RFC 7967 No-Response value "not interested in any response".
_NO_RESPONSE_ANY = 26

#: The device whose faults a request to a path gets, or None to answer normally.
FaultsFor = Callable[[str], SimDevice | None]


class _FaultySite(_Site):
    def __init__(self, endpoint: CoapEndpoint, faulty: FaultsFor,
                 requests: Counter[str] | None = None) -> None:
        super().__init__(endpoint)
        self._faulty = faulty
        self._requests = requests if requests is not None else Counter()

    async def render(self, request: Any) -> aiocoap.Message:
        device = self._faulty("/" + "/".join(request.opt.uri_path))
        if device is None:
            return await super().render(request)
        action = await _decide(device.faults)
        if action is FaultAction.DROP:
            return aiocoap.Message(code=code_of(205), no_response=_NO_RESPONSE_ANY)
        if action is FaultAction.ERROR:  # refused: the request is not carried out
            return _apply(device, action, aiocoap.Message(code=code_of(500)))
        return _apply(device, action, await super().render(request))

    async def render_to_pipe(self, pipe: Any) -> None:
        request = pipe.request
        path = "/" + "/".join(request.opt.uri_path)
        if request.code == Code.GET:
            kind = {0: "observe", 1: "deregister"}.get(request.opt.observe, "GET")
            self._requests[f"{kind} {path}"] += 1
        device = self._faulty(path) if request.opt.observe == 0 else None
        answer = device.faults.observe_answer if device is not None else "observe"
        if device is None or answer == "observe":
            await super().render_to_pipe(pipe)
        elif answer == "plain":  # the faults of a plain read still apply
            pipe.add_response(await self.render(request), is_last=True)
        elif answer == "silent":
            pipe.add_response(aiocoap.Message(code=code_of(205), no_response=_NO_RESPONSE_ANY),
                              is_last=True)
        else:
            pipe.add_response(_apply(device, FaultAction.ERROR, request), is_last=True)

    async def deliver(self, path: str, notification: aiocoap.Message) -> aiocoap.Message | None:
        device = self._faulty(path)
        if device is None:
            return notification
        action = await _decide(device.faults)
        return None if action is FaultAction.DROP else _apply(device, action, notification)


async def _decide(faults: Faults) -> FaultAction:
    action = faults.decide()
    if faults.delay:
        await asyncio.sleep(faults.delay)
    return action


def _apply(device: SimDevice, action: FaultAction, message: aiocoap.Message) -> aiocoap.Message:
    code = device.faults.error_code
    if action is FaultAction.ERROR:
        return to_message(Reply(code, diagnostic=f"injected fault: {device.name} answers {code}"))
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
        #: GETs asked of this endpoint: ``"GET /switch"``, ``"observe /switch"``,
        #: ``"deregister /switch"`` (Observe 1) -> how many.
        self.requests: Counter[str] = Counter()

    def faulty_for(self, path: str) -> SimDevice | None:
        """The device whose faults apply to ``path`` on this responder, if any."""
        return self._device if self._device.faults.applies_to(path) else None

    async def start(self) -> int:
        port = await super().start()
        # aiocoap documents replacing the site of a running context through this attribute.
        self._context.serversite = _FaultySite(self, self.faulty_for, self.requests)
        return port


class FaultyListingEndpoint(CoapEndpoint):
    """The multicast ``/oic/res`` responder of a process, faulted by the first of
    ``devices()`` whose ``Faults.paths`` name ``/oic/res``."""

    def __init__(self, devices: Callable[[], Sequence[SimDevice]], *, port: int,
                 multicast: Sequence[tuple[str, str]], listed: Listed) -> None:
        super().__init__(None, port=port, multicast=multicast, listed=listed)
        self._devices = devices

    def faulty_for(self, path: str) -> SimDevice | None:
        """The device whose faults apply to ``path`` on this responder, if any."""
        return next((d for d in self._devices()
                     if "/oic/res" in d.faults.paths and d.faults.applies_to(path)), None)

    async def start(self) -> int:
        port = await super().start()
        self._context.serversite = _FaultySite(self, self.faulty_for)
        return port
