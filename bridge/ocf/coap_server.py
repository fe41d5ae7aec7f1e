"""One aiocoap server context serving OCF devices: a virtual device, a simulator, the gateway.

Layer: ``bridge.ocf`` I/O (aiocoap). A :class:`CoapEndpoint` binds one UDP port (dual-stack
IPv6 socket: IPv4 peers arrive v4-mapped) and answers from the pure rules of
``bridge.ocf.served``: requests to its own device, and ``/oic/res`` listing its own device plus
whatever ``listed`` returns (the gateway's multicast endpoint lists every virtual device with
each one's own port). Observations are this module's, not aiocoap's lossy ones:
:meth:`CoapEndpoint.notify` renders the resource for each observer at once and queues it
(``bridge.ocf.observers``), so every state change reaches every observer, in order.
What clients may make it keep (observations, block-wise uploads, remembered requests) is
capped by a :class:`~bridge.ocf.limits.ClientLimits` that all endpoints of one gateway share
(docs/ocf.md, "Limits per client"); :class:`~bridge.ocf.admission.Admission` decides which
datagrams are taken at all. It must not know Things or models: what it serves comes in as
:class:`ServedDevice` values.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiocoap
import aiocoap.interfaces

from bridge.ocf.admission import Admission, client_host
from bridge.ocf.aiocoap_overrides import (
    read_whole_datagrams,
    render_without_task_names,
    send_past_stale_errors,
    udp_message_manager,
)
from bridge.ocf.coap_messages import (
    EncodedReply,
    encode_reply,
    representation_option_list,
    representation_options,
    to_message,
    to_request,
)
from bridge.ocf.coap_messages import refused as refused_by_coap
from bridge.ocf.lean_path import LeanGets
from bridge.ocf.limits import ClientLimits
from bridge.ocf.netif import local_address_towards, unmapped
from bridge.ocf.notify_answers import NotificationAnswers
from bridge.ocf.notify_pacing import pacing_for
from bridge.ocf.notify_sender import NotificationSocket
from bridge.ocf.observers import IN_FLIGHT, QUEUE_LIMIT, ObserverQueue
from bridge.ocf.ports import keep_to_itself, release_port, unshared_port
from bridge.ocf.served import Reply, Request, ServedDevice, handle, handle_res, read
from bridge.ocf.uploads import UploadSpool

log = logging.getLogger("ocfaj.ocf.server")

#: Binds tried for an endpoint asked for port 0, each at a port found free just before.
BIND_ATTEMPTS = 5
#: (device, UDP port it is served on), for ``/oic/res`` listings.
Listed = Callable[[], Sequence[tuple[ServedDevice, int]]]


def _message_manager(context: Any) -> Any:
    """The message layer (aiocoap ``MessageManager``) of an aiocoap context's udp6 transport."""
    manager = udp_message_manager(context)
    if manager is None:
        raise RuntimeError("the CoAP context has no UDP transport")
    return manager


def bound_port(context: Any) -> int:
    """The UDP port an aiocoap context's udp6 transport is bound to."""
    transport = _message_manager(context).message_interface.transport
    port: int = transport.get_extra_info("socket").getsockname()[1]
    return port


class _Site(aiocoap.interfaces.Resource):  # type: ignore[misc]
    def __init__(self, endpoint: CoapEndpoint) -> None:
        super().__init__()
        self._endpoint = endpoint
        # aiocoap's Resource assembles Block1 uploads in this spool; this one is bounded (and
        # answers a gap in an upload with 4.08).
        self._block1 = endpoint.uploads

    async def needs_blockwise_assembly(self, request: Any) -> bool:
        return True

    async def render(self, request: Any) -> aiocoap.Message:
        return to_message(await self._endpoint.answer(request))

    async def deliver(self, path: str, notification: aiocoap.Message) -> aiocoap.Message | None:
        """A queued notification of ``path`` as it goes out (a simulator's faults change it
        here; None: it is not sent)."""
        return notification

    async def render_to_pipe(self, pipe: Any) -> None:
        refusal = refused_by_coap(pipe.request, self._endpoint.max_payload)
        if refusal is not None:
            pipe.add_response(refusal, is_last=True)
        elif pipe.request.opt.observe == 0:
            await self._endpoint.observe(self, pipe)
        else:
            # aiocoap's plain request handling, with blockwise, without its deprecation shim
            await aiocoap.interfaces.Resource._render_to_pipe(self, pipe)


class CoapEndpoint:
    """A bound CoAP server for ``own`` (may be None) and the ``/oic/res`` of ``listed``."""

    def __init__(self, own: ServedDevice | None, *, bind_host: str = "::", port: int = 0,
                 multicast: Sequence[tuple[str, str]] = (), listed: Listed | None = None,
                 max_payload: int = 16384, queue_limit: int = QUEUE_LIMIT,
                 limits: ClientLimits | None = None, interfaces: Sequence[str] = (),
                 lean_get: bool = False, lean_compiled: bool = False) -> None:
        self.own = own
        self._bind = (bind_host or "::", port)
        self._multicast = list(multicast)
        self._listed = listed
        self._max_payload = max_payload
        self._queue_limit = queue_limit
        self._context: Any = None
        self._messages: Any = None
        self._notifications: NotificationSocket | None = None
        self._checks: asyncio.Task[None] | None = None
        self._observers: dict[str, set[ObserverQueue]] = {}
        self.port = port
        #: the caps this endpoint counts against (shared by all endpoints of a gateway);
        #: without any (a simulator), nothing is capped.
        self.limits = limits if limits is not None else ClientLimits(None)
        self.uploads = UploadSpool(self.limits, max_payload)
        #: answers only requests arriving on these interfaces (and loopback); empty: any.
        self.admission = Admission(self.limits, interfaces,
                                   what=f"OCF server of {own.device.get('n') if own else 'ocfaj'}")
        #: notifications dropped because an observer fell ``queue_limit`` behind.
        self.notifications_dropped = 0
        self._answers: NotificationAnswers | None = None
        #: plain GETs of ``own``'s resources answered before aiocoap (``bridge.ocf.lean_path``;
        #: ``ocf.lean_get``); None: aiocoap answers every request.
        self.lean = (LeanGets(self, self.admission, representation_options(),
                              max_payload=max_payload, compiled=lean_compiled)
                     if lean_get else None)

    async def start(self) -> int:
        """Bind and serve; returns the bound port."""
        if self._context is None:
            self._context = await self._serve()
            self.port = bound_port(self._context)
            self._messages = _message_manager(self._context)
            read_whole_datagrams(self._messages.message_interface.transport)
            render_without_task_names(self._context)
            send_past_stale_errors(self._messages.message_interface.transport)
            self.admission.install(self._messages)
            if self.lean is not None:
                self.lean.install(self._messages)
        return self.port

    async def _serve(self) -> Any:
        """aiocoap's server context at the bind address; asked for port 0, on a port that
        no other socket shares (``bridge.ocf.ports``: aiocoap's sockets would share one)."""
        host, port = self._bind
        for _ in range(BIND_ATTEMPTS):
            bind = (host, port or unshared_port())
            try:
                context = await aiocoap.Context.create_server_context(
                    _Site(self), bind=bind, multicast=self._multicast, transports=["udp6"],
                    loggername="ocfaj.ocf.coap")
            except OSError as err:
                if port or err.errno != errno.EADDRINUSE:
                    raise
                continue  # another socket took the free port before the bind: another one
            finally:
                if not port:
                    release_port(bind[1])
            if not port:
                keep_to_itself(_message_manager(context).message_interface.transport
                               .get_extra_info("socket"))
            return context
        raise OSError(errno.EADDRINUSE, f"no UDP port of its own for {self.admission.what} "
                                        f"after {BIND_ATTEMPTS} attempts")

    async def shutdown(self) -> None:
        context, self._context = self._context, None
        checks, self._checks = self._checks, None
        if checks is not None:
            checks.cancel()
            await asyncio.gather(checks, return_exceptions=True)
        self._observers.clear()
        self.uploads.shutdown()
        if self.lean is not None:
            self.lean.uninstall()
        if context is not None:
            await context.shutdown()

    @property
    def answers(self) -> NotificationAnswers:
        """The clients' ACKs and RSTs to notifications (``bridge.ocf.notify_answers``); made
        at the first observation, as most virtual devices never have one."""
        if self._answers is None:
            self._answers = NotificationAnswers()
        return self._answers

    def _plain_socket(self, remote: Any) -> NotificationSocket | None:
        """What sends NON notifications to ``remote`` without aiocoap (None: aiocoap does,
        as for a coaps client)."""
        if self._notifications is None and self._messages is not None:
            self._notifications = NotificationSocket(self._messages,
                                                     representation_option_list())
        plain = self._notifications
        return plain if plain is not None and plain.carries(remote) else None

    @property
    def max_payload(self) -> int:
        return self._max_payload

    @property
    def observer_count(self) -> int:
        return sum(len(obs) for obs in self._observers.values())

    @property
    def notifications_queued(self) -> int:
        """Notifications rendered but not yet handed to aiocoap, over all observers."""
        return sum(len(queue) for obs in self._observers.values() for queue in obs)

    def notify(self, href: str) -> None:
        """Queue ``href``'s current representation for each of its observers (its state
        changed: what the lean GET path cached of it is dropped too)."""
        if self.lean is not None:
            self.lean.forget(href)
        watchers = self._observers.get(href)
        if not watchers or self.own is None:
            return
        if len(watchers) == 1:
            # The usual case: one observer, one rendering (no request to hash, no copy).
            queue = next(iter(watchers))
            self.notifications_dropped += queue.put(encode_reply(read(self.own, queue.request)))
            return
        # Observers with the same request (query, accept) share one rendering.
        rendered: dict[Request, EncodedReply] = {}
        for queue in list(watchers):
            snapshot = rendered.get(queue.request)
            if snapshot is None:
                snapshot = rendered[queue.request] = encode_reply(read(self.own, queue.request))
            self.notifications_dropped += queue.put(snapshot)

    def notify_all(self) -> None:
        self.forget_answers()
        for href in list(self._observers):
            self.notify(href)

    def forget_answers(self) -> None:
        """Any state of ``own`` may have changed: the lean GET path renders afresh."""
        if self.lean is not None:
            self.lean.forget()

    def _check_while_observed(self) -> None:
        """Start the checks of quiet observations, unless they run: they run only while this
        endpoint has observers (most virtual devices have none, and a timer each would be a
        task per device)."""
        interval = self.limits.observe_check
        if interval is not None and self._checks is None and self._context is not None:
            self._checks = asyncio.ensure_future(self._check_observers(interval))

    async def _check_observers(self, interval: float) -> None:
        """Every so often, a confirmable notification to each observation quiet for
        ``interval`` seconds: one whose client is gone then ends (``bridge.ocf.observers``).
        Ends once no observation is left (the next one starts it again)."""
        try:
            while any(self._observers.values()):
                await asyncio.sleep(interval / 4)
                if self.own is None:
                    continue
                quiet_since = time.monotonic() - interval
                for queue in [q for obs in self._observers.values() for q in obs]:
                    if not len(queue) and queue.last_sent <= quiet_since:
                        queue.last_sent = time.monotonic()
                        queue.put(encode_reply(read(self.own, queue.request)), confirm=True)
        finally:
            if self._checks is asyncio.current_task():
                self._checks = None

    def _accepts_observation(self, path: str) -> bool:
        if self.own is None or not self.own.available:
            return False
        resource = self.own.find(path)
        return resource is not None and resource.observable

    async def observe(self, site: _Site, pipe: Any) -> None:
        """Serve a GET with Observe=0: the first response, then every queued notification."""
        message = pipe.request
        request = to_request(message, self._max_payload)
        if not self._accepts_observation(request.path):
            pipe.add_response(await site.render(message), is_last=True)
            return
        host = client_host(message.remote)
        problem = self.limits.observers.take(host)
        if problem is not None:
            self.limits.refused.observers += 1
            log.info("refusing an observation of %s from %s with 5.03: %s", request.path,
                     host, problem)
            pipe.add_response(to_message(Reply(503, diagnostic=(
                f"too many observations: {problem}"))), is_last=True)
            return
        queue = ObserverQueue(request, f"{message.remote} of {request.path}",
                              limit=self._queue_limit)
        watchers = self._observers.setdefault(request.path, set())
        watchers.add(queue)
        self._check_while_observed()
        try:
            first = await site.render(message)
            if not first.code.is_successful():
                pipe.add_response(first, is_last=True)
                return
            # The first response carries the state at its rendering: what was queued while it
            # rendered is older.
            queue.clear()
            first.opt.observe = 0
            pipe.add_response(first, is_last=False)
            self.answers.cover(self._context)
            self.answers.watch(queue)
            pacing = pacing_for(message.mtype is aiocoap.CON,
                                self.limits.notify_confirmable_every,
                                self.limits.observe_check, time.monotonic(), backlog=IN_FLIGHT)
            # A site that changes notifications on their way (a simulator's faults) sees each.
            deliver = (None if type(site).deliver is _Site.deliver
                       else functools.partial(site.deliver, request.path))
            await queue.run(pipe, pacing, self.answers, deliver,
                            self._plain_socket(message.remote))
        finally:
            watchers.discard(queue)
            if self._answers is not None:
                self._answers.forget(queue)
            self.limits.observers.give(host)
            if queue.dropped:
                log.info("observer %s: %d notifications dropped in all (it fell behind)",
                         queue.what, queue.dropped)

    def eps_host(self, request: Any) -> str:
        """The host part of ``eps`` for the requester, in its family (interop rule; "": none).
        Asked once per listing: finding the local address towards a peer costs a socket."""
        sockaddr = getattr(request.remote, "sockaddr", None)
        if not sockaddr:
            return ""
        peer = unmapped(str(sockaddr[0]))
        bind = self._bind[0]
        if bind not in ("::", "0.0.0.0", ""):
            local = unmapped(bind)
        else:
            local = local_address_towards(peer, sockaddr[3] if len(sockaddr) > 3 else 0)
        if not local or (":" in local) != (":" in peer):
            return ""
        return f"[{local}]" if ":" in local else local

    async def answer(self, message: Any) -> Reply:
        request = to_request(message, self._max_payload)
        if request.path == "/oic/res":
            host = self.eps_host(message)

            def eps(port: int) -> list[str]:
                return [f"coap://{host}:{port}"] if host else []

            devices: list[tuple[ServedDevice, list[str]]] = []
            if self.own is not None:
                devices.append((self.own, eps(self.port)))
            if self._listed is not None:
                devices.extend((dev, eps(port)) for dev, port in self._listed())
            return handle_res(devices, request)
        if self.own is None:
            return Reply(404, silent=request.multicast, diagnostic=f"no resource {request.path}")
        reply = await handle(self.own, request)
        if request.method != "GET" and self.lean is not None:
            # A POST may change what a GET returns without any state event (the last
            # result of a method resource).
            self.lean.forget(request.path)
        if request.multicast and not reply.success:
            return Reply(reply.code, silent=True)
        return reply

