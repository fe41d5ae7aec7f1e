"""Unicast OCF requests and observations over aiocoap (Block2 is aiocoap's).

Layer: ``bridge.ocf`` I/O (aiocoap). Requests carry Accept 10000 and the version options
(docs/ocf.md, "Interoperability"); answers are read leniently (format 60 or none, with or
without a version option). Failures become ``bridge.core.errors`` types: an error answer is
``DeviceError(code, diagnostic)``, silence is ``DeviceTimeout``. An observation the device
refuses with an answer (an error code, or no Observe option) ends quietly with a warning: the
device answered, so it is not reported as failed (``on_end`` is for silence and broken streams).
An observation started with ``read=True`` hands its first answer to ``Observation.first``
instead of ``on_value``: the answer to the registration is the first notification (RFC 7641)
and carries the resource's current representation, so it is the read of that resource
(docs/ocf.md, "Reading through the observation"). Once aiocoap matched that first answer, the
plain notifications of a ``coap://`` observation are taken by the lean receive path of
``bridge.ocf.lean_notify`` in front of aiocoap (docs/ocf.md, "The lean notification path");
the others still arrive through aiocoap's observation, and both keep one Observe order.

Cancelling an observation must send a GET with Observe=1 on the observation's own token;
aiocoap 0.4 only forgets observations locally, so :meth:`OcfClient.deregister` hands aiocoap's
token manager the old token for that one request (documented private API of aiocoap 0.4.x,
``TokenManager.next_token``/``request``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiocoap
from aiocoap import CON, NON, Message
from aiocoap.numbers.codes import Code
from aiocoap.pipe import Pipe
from aiocoap.protocol import Request as AiocoapRequest
from aiocoap.tokenmanager import TokenManager

from bridge.core.errors import DeviceError, DeviceTimeout
from bridge.ocf import wire
from bridge.ocf.aiocoap_overrides import udp_message_manager
from bridge.ocf.coap_messages import set_version, status_number
from bridge.ocf.lean_notify import Followed, LeanNotifications
from bridge.ocf.links import Endpoint
from bridge.ocf.receive_buffer import enlarge_context

#: Remotes kept for endpoints that answered (beyond it, the table starts again).
REMOTES_KEPT = 4096
log = logging.getLogger("ocfaj.ocf.client")

OnValue = Callable[[Any], None]
OnEnd = Callable[[str], None]


def request_uri(ep: Endpoint, href: str, query: Sequence[str] = ()) -> str:
    return ep.request_uri + href + (("?" + "&".join(query)) if query else "")


_NOT_PLAIN = frozenset("%?#&")


def _plain_path(ep: Endpoint, href: str, query: Sequence[str]) -> list[str] | None:
    """The Uri-Path segments of ``href`` as aiocoap's URI parsing gives them, or None when
    parsing could give more or something else (a host name, which gets a Uri-Host option; a
    percent escape, a query or fragment in ``href``; an empty query item or one with ``&``):
    those requests take the URI through aiocoap."""
    if not href.startswith("/") or not _NOT_PLAIN.isdisjoint(href) or any(
            not item or not _NOT_PLAIN.isdisjoint(item) for item in query):
        return None
    if not ep.is_ipv6:
        parts = ep.host.split(".")
        if len(parts) != 4 or not all(p.isdigit() and p.isascii() and int(p) <= 255
                                      for p in parts):
            return None
    return [] if href == "/" else href.split("/")[1:]


def decode_answer(response: Any, max_payload: int) -> Any:
    """The decoded payload of a successful answer (lenient on format and version)."""
    if not response.code.is_successful():
        text = bytes(response.payload).decode("utf-8", "replace")[:200]
        raise DeviceError(status_number(response.code), text or str(response.code))
    if len(response.payload) > max_payload:
        raise DeviceError(413, f"answer of {len(response.payload)} bytes exceeds max_payload")
    cf = response.opt.content_format
    if response.payload and cf is not None and int(cf) not in (wire.CF_OCF_CBOR, wire.CF_CBOR):
        raise DeviceError(415, f"answer in unsupported content format {int(cf)}")
    try:
        return wire.decode(bytes(response.payload))
    except wire.PayloadError as err:
        raise DeviceError(502, str(err)) from None


def _refused_unsent(err: BaseException) -> bool:
    """True for a "connection refused" that the kernel raised on sending, which on an
    unconnected UDP socket is always the pending error of an earlier ICMP message (for
    whichever remote): the datagram was not sent. aiocoap 0.4 reports an error that arrived
    through the socket's error queue, which names the remote it is for, with "received through
    errqueue" in its text; that one is real (docs/design.md, aiocoap)."""
    cause = err.__cause__
    return isinstance(cause, ConnectionRefusedError) and "errqueue" not in str(cause)


def _settle(first: asyncio.Future[Any] | None, error: DeviceError) -> None:
    """End a read through an observation with ``error``, unless it has its answer already."""
    if first is not None and not first.done():
        first.set_exception(error)


@dataclass
class Observation:
    """A running observation; ``task`` feeds ``on_value`` until it ends."""

    ep: Endpoint
    href: str
    task: asyncio.Task[None] | None = None
    token: bytes = b""
    request: Any = None
    cancelled: bool = False
    #: the device answered the registration without observing (an error code, or no
    #: Observe option): the observation ended without ``on_end``.
    refused: bool = False
    #: with ``read=True``: the first answer's decoded value; ``DeviceTimeout`` when the device
    #: was silent (or the registration could not be sent), ``DeviceError`` for any other
    #: answer that is not a representation (an error code, an undecodable payload).
    first: asyncio.Future[Any] | None = None
    #: while the lean receive path takes its notifications (``bridge.ocf.lean_notify``).
    followed: Followed | None = None


class OcfClient:
    """GET, POST and observe OCF resources; one aiocoap client context. With a ``keyring``
    (``bridge.ocf.keyring``) it also speaks ``coaps://`` (``bridge.ocf.coaps``), whose
    sessions ``coaps_limits`` bound; ``dtls_context`` (a client context of
    ``bridge.ocf.dtls``, for the certificate suite) replaces the keyring's."""

    def __init__(self, timeout: float, max_payload: int, *, keyring: Any = None,
                 coaps_limits: Any = None, dtls_context: Any = None,
                 coaps_once_keyed: bool = False, observe_confirmable: bool = True) -> None:
        self.timeout = timeout
        #: the message type of observation registrations (``ocf.observe_confirmable``).
        self.observe_confirmable = observe_confirmable
        self.max_payload = max_payload
        self.keyring = keyring
        self.dtls_context = dtls_context
        self.coaps_limits = coaps_limits
        #: coaps only once ``keyring`` (a ``Keyring``) holds a key (:meth:`speak_coaps`).
        self.coaps_once_keyed = coaps_once_keyed
        #: the coaps interface, when ``keyring`` was given and the client runs.
        self.coaps: Any = None
        self._context: Any = None
        #: the aiocoap remote of each plain ``coap`` endpoint that answered: a request to it
        #: reuses it instead of resolving the address again (aiocoap asks getaddrinfo in a
        #: thread for every request otherwise, even for a numeric address).
        self._remotes: dict[Endpoint, Any] = {}
        self._attaching = asyncio.Lock()
        #: the lean receive path of established observations' notifications.
        self.lean = LeanNotifications(max_payload)

    async def start(self) -> None:
        if self._context is None:
            self._context = await aiocoap.Context.create_client_context(transports=["udp6"])
            enlarge_context(self._context, "OCF client")
            manager = udp_message_manager(self._context)
            if manager is not None:
                self.lean.install(manager)
            await self.speak_coaps()

    async def speak_coaps(self) -> None:
        """Add the coaps transport when there is a ``keyring`` or a ``dtls_context`` (with
        ``coaps_once_keyed``: once the keyring holds a key; until then the DTLS library is not
        even loaded, which saves a gateway that owns no secured device about 10 MiB)."""
        async with self._attaching:
            if self._context is None or self.coaps is not None:
                return
            if self.dtls_context is None and (self.keyring is None or (
                    self.coaps_once_keyed and not len(self.keyring))):
                return
            from bridge.ocf import coaps, dtls

            context = self.dtls_context or dtls.client_context(self.keyring.choose)
            self.coaps = await coaps.attach(self._context, client_context=context,
                                            limits=self.coaps_limits)

    async def shutdown(self) -> None:
        context, self._context = self._context, None
        self.coaps = None
        if context is not None:
            await context.shutdown()

    def _message(self, code: Code, ep: Endpoint, href: str, query: Sequence[str],
                 body: Any = None, observe: int | None = None) -> Message:
        remote = self._remotes.get(ep)
        path = _plain_path(ep, href, query) if remote is not None else None
        if path is not None:
            # An endpoint that answered before: its resolved remote and the options its URI
            # gives, without aiocoap parsing the URI (urllib) for every request.
            message = Message(code=code, uri_path=path, uri_query=query,
                              accept=wire.CF_OCF_CBOR)
            message.remote = remote
        else:
            message = Message(code=code, uri=request_uri(ep, href, query),
                              accept=wire.CF_OCF_CBOR)
            if remote is not None:
                message.remote = remote
        set_version(message, wire.OPT_ACCEPT_VERSION)
        if observe is not None:
            message.opt.observe = observe
        if body is not None:
            message.payload = wire.encode(body)
            message.opt.content_format = wire.CF_OCF_CBOR
            set_version(message, wire.OPT_CONTENT_VERSION)
        return message

    async def _send(self, ep: Endpoint, make: Callable[[], Message], what: str,
                    limit: int | None = None) -> Any:
        """Send the request ``make`` builds, again while the send itself was refused.

        aiocoap's UDP transport (0.4) shares one socket for every remote, and the ICMP port
        unreachable that one closed port (a client application that just exited) sends back
        leaves a pending error that the kernel reports on the next send to *any* remote: the
        request to a live device then fails with "connection refused" although it was never
        sent. Such a refusal (:func:`_refused_unsent`) is retried after a short pause until
        the request timeout; an error the ICMP message itself carries for this remote
        fails the request at once, as does every other network error.
        """
        if self._context is None:
            raise DeviceError(503, "the OCF client is not running")
        if ep.secure:
            await self.speak_coaps()  # a key may have arrived since the last round
        if ep.secure and self.coaps is not None:
            # The DTLS session first, under its own bounds (bridge.ocf.coaps): a handshake
            # that waited for its turn must not use up the request's timeout.
            try:
                await self.coaps.session_with(ep.host, ep.port)
            except (aiocoap.error.Error, OSError) as err:
                raise DeviceTimeout(f"{what}: {err}") from None
        pause = 0.005
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    request = self._context.request(make())
                    try:
                        response = await request.response
                        break
                    except aiocoap.error.NetworkError as err:
                        if not _refused_unsent(err):
                            raise DeviceTimeout(f"{what}: {err}") from None
                        log.debug("%s: the send was refused (an earlier ICMP error of another "
                                  "remote); sending again", what)
                    except aiocoap.error.Error as err:
                        raise DeviceTimeout(f"{what}: {err}") from None
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 0.2)
        except TimeoutError:
            request.response.cancel()
            self._remotes.pop(ep, None)
            raise DeviceTimeout(f"{what}: no answer within {self.timeout} s") from None
        except DeviceTimeout:
            self._remotes.pop(ep, None)
            raise
        self._remember(ep, response)
        return decode_answer(response, limit or self.max_payload)

    def _remember(self, ep: Endpoint, response: Any) -> None:
        if ep.scheme != "coap" or response.remote is None or ep in self._remotes:
            return
        if len(self._remotes) >= REMOTES_KEPT:
            self._remotes.clear()  # devices that left; the ones still here come back
        self._remotes[ep] = response.remote

    async def get(self, ep: Endpoint, href: str, query: Sequence[str] = (), *,
                  limit: int | None = None) -> Any:
        """GET ``href``; ``limit`` replaces ``max_payload`` for answers that grow with the
        number of devices behind one endpoint (``/oic/res``)."""
        return await self._send(ep, lambda: self._message(Code.GET, ep, href, query),
                                f"GET {href}", limit)

    async def post(self, ep: Endpoint, href: str, body: Any) -> Any:
        return await self._send(ep, lambda: self._message(Code.POST, ep, href, (), body),
                                f"POST {href}")

    def observe(self, ep: Endpoint, href: str, on_value: OnValue, on_end: OnEnd, *,
                read: bool = False) -> Observation:
        """Register (Observe=0); ``on_value`` gets each decoded representation, ``on_end`` the
        reason when the observation fails (never after :meth:`deregister`). With ``read``, the
        first answer settles ``Observation.first`` instead of going to ``on_value``."""
        observation = Observation(ep, href)
        if read:
            first = asyncio.get_running_loop().create_future()
            # A reader that was itself cancelled never looks: that is no error to report.
            first.add_done_callback(lambda f: f.cancelled() or f.exception())
            observation.first = first
        observation.task = asyncio.ensure_future(self._run(observation, on_value, on_end))
        return observation

    async def _run(self, observation: Observation, on_value: OnValue, on_end: OnEnd) -> None:
        message = self._message(Code.GET, observation.ep, observation.href, (), observe=0)
        # RFC 7641 section 4.5 leaves the notifications' type to the server; aiocoap's server
        # answers in the request's. A NON registration is not retransmitted: one lost is
        # noticed by the timeout below and the observation is started again.
        message.mtype = CON if self.observe_confirmable else NON
        try:
            if self._context is None:
                raise DeviceError(503, "the OCF client is not running")
            if observation.ep.secure:
                await self.speak_coaps()
            # Without blockwise handling the request message keeps the token aiocoap gives it,
            # which the deregistration needs.
            request = self._context.request(message, handle_blockwise=False)
            observation.request = request
            async with asyncio.timeout(self.timeout):
                first = await request.response
            observation.token = bytes(message.token)
            if first.code.is_successful():
                value = decode_answer(first, self.max_payload)
                if observation.first is None:
                    on_value(value)
                else:
                    observation.first.set_result(value)
            else:
                _settle(observation.first, DeviceError(
                    status_number(first.code), f"{observation.href} refused the observation"))
            if not first.code.is_successful() or first.opt.observe is None:
                # The device answered: it is there, this resource is just not observable for
                # us (4.01 of a secured resource, 4.04, 5.00...). Its availability is for the
                # discovery rounds to judge; its state stays what the last read gave.
                self._refused(observation, first)
                return
            if request.observation is None:
                raise DeviceError(500, f"{observation.href} refused the observation")
            followed = self._follow(observation, first, on_value)
            try:
                async for notification in request.observation:
                    number = notification.opt.observe
                    # A notification older than one the lean path took is dropped (RFC 7641
                    # section 3.4; aiocoap compares with the ones it saw only).
                    if followed is None or number is None \
                            or followed.accept(int(number), self.lean.now()):
                        on_value(decode_answer(notification, self.max_payload))
            finally:
                self._unfollow(observation)
            reason = "the device ended the observation"
        except asyncio.CancelledError:
            _settle(observation.first, DeviceTimeout(f"{observation.href}: observation ended"))
            raise
        except TimeoutError:
            reason = f"no answer within {self.timeout} s"
            _settle(observation.first, DeviceTimeout(f"observe {observation.href}: {reason}"))
        except DeviceError as err:
            reason = err.message
            _settle(observation.first, err)
        except Exception as err:  # aiocoap reports network failures with many types
            reason = f"{type(err).__name__}: {err}"
            # A registration the kernel refused to send (an earlier ICMP error of another
            # remote) is worth a GET, which retries it; any other failure is silence.
            _settle(observation.first, DeviceError(503, reason) if _refused_unsent(err)
                    else DeviceTimeout(f"observe {observation.href}: {reason}"))
        if not observation.cancelled:
            on_end(reason)

    def _follow(self, observation: Observation, first: Any, on_value: OnValue
                ) -> Followed | None:
        """Let the lean receive path take the notifications of an established ``coap://``
        observation, from the source of its ``first`` answer on its token."""
        sockaddr = getattr(first.remote, "sockaddr", None)
        if observation.ep.scheme != "coap" or not self.lean.installed or sockaddr is None \
                or not observation.token or observation.cancelled:
            return None
        observation.followed = self.lean.follow(
            observation.token, sockaddr, int(first.opt.observe), on_value,
            request_uri(observation.ep, observation.href))
        return observation.followed

    def _unfollow(self, observation: Observation) -> None:
        followed, observation.followed = observation.followed, None
        if followed is not None:
            self.lean.unfollow(followed)

    def _refused(self, observation: Observation, first: Any) -> None:
        observation.refused = True
        if first.code.is_successful():
            log.warning("OCF %s: the device answered without observing (no Observe option); "
                        "its state is not followed until the device is read again",
                        request_uri(observation.ep, observation.href))
            return
        text = bytes(first.payload).decode("utf-8", "replace")[:200]
        log.warning("OCF %s: the device refused the observation with %s%s; its state is "
                    "not followed until the device is read again",
                    request_uri(observation.ep, observation.href), first.code.dotted,
                    f" ({text})" if text else "")

    async def deregister(self, observation: Observation) -> None:
        """End an observation for real: GET with Observe=1 on its token, then stop locally."""
        if observation.cancelled:
            return
        observation.cancelled = True
        self._unfollow(observation)
        if observation.refused:
            return  # the device never registered it: nothing to cancel there or here
        request = observation.request
        # An observation that ended on an error is cancelled already (aiocoap asserts on a
        # second cancel).
        if (request is not None and request.observation is not None
                and not request.observation.cancelled):
            request.observation.cancel()
        if observation.task is not None:
            observation.task.cancel()
        if not observation.token or self._context is None:
            return
        await asyncio.sleep(0)
        message = self._message(Code.GET, observation.ep, observation.href, (), observe=1)
        try:
            async with asyncio.timeout(self.timeout):
                await self._send_with_token(message, observation.token)
        except Exception as err:  # the device may be gone already: nothing left to cancel
            log.debug("deregistering %s failed: %s", observation.href, err)

    async def _send_with_token(self, message: Message, token: bytes) -> None:
        pipe = Pipe(message, self._context.log)
        request = AiocoapRequest(pipe, asyncio.get_running_loop(), self._context.log)
        interface = await self._context.find_remote_and_interface(message)
        if not isinstance(interface, TokenManager):
            raise DeviceError(500, "no token manager to deregister through")
        interface.next_token = lambda: token
        try:
            interface.request(pipe)
        finally:
            del interface.next_token
        await request.response
