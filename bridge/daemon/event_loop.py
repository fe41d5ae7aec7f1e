"""The gateway's asyncio event loop: address literals are resolved without a thread.

Layer: ``bridge.daemon`` (process set-up; no protocol library). asyncio's
``loop.getaddrinfo`` hands every call to the loop's default executor, a thread pool, even
for an IP address literal, which needs no look-up at all. aiocoap calls it for every new
remote it sends to (``coap://169.254.0.7:40123``: the host part is resolved again) and for
the bind address of every server context it creates, so a gateway that reads 1,000 OCF
devices and serves 1,000 virtual ones made thousands of thread round trips at start-up,
each a wake-up of a worker thread, a hand-over of the GIL and a callback back into the loop.

:class:`LiteralResolvingLoop` answers a call whose host is an IPv4 or IPv6 literal (with
or without a ``%zone``) and whose port is a number at once, by the C library's own
``getaddrinfo`` with ``AI_NUMERICHOST | AI_NUMERICSERV``: the same answer the thread would
give, and the flags forbid any name service or DNS query, so the call cannot block. Any
other call (a host name, a service name, a literal the C library rejects) goes to the
thread pool as before, so its errors are the ones asyncio gives.

Which loop (``[gateway] event_loop``): uvloop's, where uvloop is installed (``auto``, the
default), or asyncio's own selector loop. Both get the same literal answering: uvloop's
``getaddrinfo`` hands a call to libuv's thread pool the same way. uvloop wakes up and calls
back in C where asyncio runs a Python loop round (a third of the instructions of a sequential
GET on a virtual OCF device); uvloop's loop also re-registers the reader of a datagram socket
after an error, which libuv would stop watching (docs/design.md, "The event loop").
"""

from __future__ import annotations

import asyncio
import functools
import os
import select
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

#: ``[gateway] event_loop``: ``auto`` is uvloop when it can be imported, else ``asyncio``.
LoopChoice = Literal["auto", "uvloop", "asyncio"]

#: What the C library adds so that it never looks a name up (getaddrinfo(3)).
_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


def is_address_literal(host: object) -> bool:
    """True for an IPv4 or IPv6 address literal (an IPv6 one may carry a ``%zone``)."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str) or not host:
        return False
    for family, text in ((socket.AF_INET, host), (socket.AF_INET6, host.partition("%")[0])):
        try:
            socket.inet_pton(family, text)
        except OSError:
            continue
        return True
    return False


def _is_port_number(port: object) -> bool:
    if port is None or isinstance(port, int):
        return True
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    return isinstance(port, str) and port.isdigit()


class _AnswersLiterals:
    """What both gateway loops add: ``getaddrinfo`` answers address literals inline."""

    #: calls answered without the thread pool (for tests and benchmarks).
    literal_lookups = 0

    async def getaddrinfo(
            self, host: bytes | str | None, port: bytes | str | int | None, *,
            family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list[Any]:
        if is_address_literal(host) and _is_port_number(port):
            try:
                found = socket.getaddrinfo(host, port, family, type, proto, flags | _NUMERIC)
            except socket.gaierror:
                pass  # asked again in the thread, which raises what the loop always raised
            else:
                self.literal_lookups += 1
                return found
        parent: Any = super()
        answer: list[Any] = await parent.getaddrinfo(host, port, family=family, type=type,
                                                     proto=proto, flags=flags)
        return answer


class LiteralResolvingLoop(_AnswersLiterals, asyncio.SelectorEventLoop):
    """asyncio's selector event loop, whose ``getaddrinfo`` answers address literals inline."""


def _uvloop_class() -> type[asyncio.AbstractEventLoop] | None:
    """uvloop's loop with the same literal answering, or ``None`` when uvloop cannot be
    imported (not installed, or built for another Python)."""
    try:
        import uvloop
    except ImportError:
        return None

    class LiteralResolvingUvloop(_AnswersLiterals, uvloop.Loop):  # type: ignore[misc]
        """uvloop's event loop, whose ``getaddrinfo`` answers address literals inline and
        whose readers of datagram sockets survive a socket error (:class:`_Rearming`)."""

        def __init__(self) -> None:
            super().__init__()
            #: datagram socket -> the re-arming reader registered for it now.
            self._rearming: dict[int, _Rearming] = {}

        def add_reader(  # type: ignore[override]
                self, fd: Any, callback: Callable[..., object], *args: Any) -> None:
            number = fd if isinstance(fd, int) else fd.fileno()
            self._rearming.pop(number, None)
            if _is_datagram_socket(number):
                reader = self._rearming[number] = _Rearming(self, number, callback, args)
                super().add_reader(number, reader)
            else:
                super().add_reader(fd, callback, *args)

        def remove_reader(self, fd: Any) -> Any:  # what uvloop returns (None)
            self._rearming.pop(fd if isinstance(fd, int) else fd.fileno(), None)
            return super().remove_reader(fd)

        def rearm(self, reader: _Rearming) -> None:
            """Register ``reader`` again if it is still its socket's reader."""
            if self._rearming.get(reader.fd) is reader:
                uvloop.Loop.remove_reader(self, reader.fd)
                uvloop.Loop.add_reader(self, reader.fd, reader)

    return LiteralResolvingUvloop


def _is_datagram_socket(fd: int) -> bool:
    try:
        with socket.socket(fileno=os.dup(fd)) as probe:
            return probe.type == socket.SOCK_DGRAM
    except OSError:
        return False


class _Rearming:
    """A reader of a datagram socket on uvloop that is registered again after an error.

    libuv stops watching a descriptor when its poll reports an error condition (POLLERR:
    on a UDP socket with ``IPV6_RECVERR``, as aiocoap's are, any ICMP error such as port
    unreachable), while uvloop still counts the reader as registered: the reader is called
    once more and never again, and the socket goes deaf. This reader asks ``poll(2)`` with
    no events (only the error condition is reported) before it calls the callback, which
    reads the error queue, and registers itself again after it when the condition was
    there. Cost: one ``poll`` per wake-up (under a microsecond)."""

    __slots__ = ("args", "callback", "fd", "loop", "poll")

    def __init__(self, loop: Any, fd: int, callback: Callable[..., object],
                 args: tuple[Any, ...]) -> None:
        self.loop, self.fd, self.callback, self.args = loop, fd, callback, args
        self.poll = select.poll()
        self.poll.register(fd, 0)

    def __call__(self) -> None:
        errored = self.poll.poll(0)
        self.callback(*self.args)
        if errored:
            self.loop.rearm(self)


#: :func:`_uvloop_class`, made once per process.
uvloop_class = functools.cache(_uvloop_class)


def loop_factory(choice: LoopChoice = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """The class of the gateway's loop for ``[gateway] event_loop``. ``uvloop`` without
    uvloop raises :class:`RuntimeError` (``ocfaj run`` checks it first, as a config error)."""
    if choice == "asyncio":
        return LiteralResolvingLoop
    found = uvloop_class()
    if found is not None:
        return found
    if choice == "uvloop":
        raise RuntimeError("gateway.event_loop is 'uvloop' but uvloop cannot be imported: "
                           "pip install 'ocfaj[uvloop]'")
    return LiteralResolvingLoop


def describe(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop 0.23.0`` or ``asyncio``, for the start log. It imports nothing: on asyncio's
    loop, uvloop stays unimported (its import alone costs about 1 MiB of RSS)."""
    uvloop = sys.modules.get("uvloop")
    if uvloop is None or not isinstance(loop, uvloop.Loop):
        return "asyncio"
    # uvloop's own version attribute; importlib.metadata would cost 1.6 MiB of RSS.
    return f"uvloop {getattr(uvloop, '__version__', '')}".rstrip()


def run(main: Coroutine[Any, Any, T], choice: LoopChoice = "auto") -> T:
    """``asyncio.run(main)`` on the gateway's loop (:func:`loop_factory`)."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
