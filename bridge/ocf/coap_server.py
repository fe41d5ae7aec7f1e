"""One aiocoap server context serving OCF devices: a virtual device, a simulator, the gateway.

Layer: ``bridge.ocf`` I/O (aiocoap). A :class:`CoapEndpoint` binds one UDP port (dual-stack
IPv6 socket: IPv4 peers arrive v4-mapped) and answers from the pure rules of
``bridge.ocf.served``: requests to its own device, and ``/oic/res`` listing its own device plus
whatever ``listed`` returns (the gateway's multicast endpoint lists every virtual device with
each one's own port). Observations are aiocoap's; :meth:`CoapEndpoint.notify` triggers them.
It must not know Things or models: what it serves comes in as :class:`ServedDevice` values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiocoap
import aiocoap.interfaces

from bridge.ocf.coap_messages import to_message, to_request
from bridge.ocf.netif import local_address_towards, unmapped
from bridge.ocf.served import Reply, ServedDevice, handle, handle_res

log = logging.getLogger("ocfaj.ocf.server")

#: (device, UDP port it is served on), for ``/oic/res`` listings.
Listed = Callable[[], Sequence[tuple[ServedDevice, int]]]


def bound_port(context: Any) -> int:
    """The UDP port an aiocoap context's udp6 transport is bound to."""
    for interface in context.request_interfaces:
        message_interface = getattr(getattr(interface, "token_interface", None),
                                    "message_interface", None)
        transport = getattr(message_interface, "transport", None)
        if transport is not None:
            port: int = transport.get_extra_info("socket").getsockname()[1]
            return port
    raise RuntimeError("the CoAP context has no UDP transport")


class _Site(aiocoap.interfaces.ObservableResource):  # type: ignore[misc]
    def __init__(self, endpoint: CoapEndpoint) -> None:
        super().__init__()
        self._endpoint = endpoint

    async def needs_blockwise_assembly(self, request: Any) -> bool:
        return True

    async def render(self, request: Any) -> aiocoap.Message:
        return to_message(await self._endpoint.answer(request))

    async def add_observation(self, request: Any, serverobservation: Any) -> None:
        self._endpoint.add_observation(request, serverobservation)

    async def render_to_pipe(self, pipe: Any) -> None:
        # aiocoap's own observe + blockwise machinery, without its deprecation shim
        await aiocoap.interfaces.ObservableResource._render_to_pipe(self, pipe)


class CoapEndpoint:
    """A bound CoAP server for ``own`` (may be None) and the ``/oic/res`` of ``listed``."""

    def __init__(self, own: ServedDevice | None, *, bind_host: str = "::", port: int = 0,
                 multicast: Sequence[tuple[str, str]] = (), listed: Listed | None = None,
                 max_payload: int = 16384) -> None:
        self.own = own
        self._bind = (bind_host or "::", port)
        self._multicast = list(multicast)
        self._listed = listed
        self._max_payload = max_payload
        self._context: Any = None
        self._observers: dict[str, set[Any]] = {}
        self.port = port

    async def start(self) -> int:
        """Bind and serve; returns the bound port."""
        if self._context is None:
            self._context = await aiocoap.Context.create_server_context(
                _Site(self), bind=self._bind, multicast=self._multicast, transports=["udp6"],
                loggername="ocfaj.ocf.coap")
            self.port = bound_port(self._context)
        return self.port

    async def shutdown(self) -> None:
        context, self._context = self._context, None
        self._observers.clear()
        if context is not None:
            await context.shutdown()

    @property
    def observer_count(self) -> int:
        return sum(len(obs) for obs in self._observers.values())

    def notify(self, href: str) -> None:
        """Send a notification of ``href``'s current representation to its observers."""
        for observation in list(self._observers.get(href, ())):
            observation.trigger()

    def notify_all(self) -> None:
        for href in list(self._observers):
            self.notify(href)

    def add_observation(self, request: Any, observation: Any) -> None:
        path = "/" + "/".join(request.opt.uri_path)
        resource = self.own.find(path) if self.own is not None else None
        if resource is None or not resource.observable or not self.own or not self.own.available:
            return
        watchers = self._observers.setdefault(path, set())
        watchers.add(observation)
        observation.accept(lambda: watchers.discard(observation))

    def endpoints_for(self, request: Any, port: int) -> list[str]:
        """``eps`` for a device on ``port``, in the family of the request (interop rule)."""
        sockaddr = getattr(request.remote, "sockaddr", None)
        if not sockaddr:
            return []
        peer = unmapped(str(sockaddr[0]))
        bind = self._bind[0]
        if bind not in ("::", "0.0.0.0", ""):
            local = unmapped(bind)
        else:
            local = local_address_towards(peer, sockaddr[3] if len(sockaddr) > 3 else 0)
        if not local or (":" in local) != (":" in peer):
            return []
        host = f"[{local}]" if ":" in local else local
        return [f"coap://{host}:{port}"]

    async def answer(self, message: Any) -> Reply:
        request = to_request(message, self._max_payload)
        if request.path == "/oic/res":
            devices: list[tuple[ServedDevice, list[str]]] = []
            if self.own is not None:
                devices.append((self.own, self.endpoints_for(message, self.port)))
            if self._listed is not None:
                devices.extend((dev, self.endpoints_for(message, port))
                               for dev, port in self._listed())
            return handle_res(devices, request)
        if self.own is None:
            return Reply(404, silent=request.multicast, diagnostic=f"no resource {request.path}")
        reply = await handle(self.own, request)
        if request.multicast and not reply.success:
            return Reply(reply.code, silent=True)
        return reply

