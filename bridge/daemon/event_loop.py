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
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

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


class LiteralResolvingLoop(asyncio.SelectorEventLoop):
    """asyncio's selector event loop, whose ``getaddrinfo`` answers address literals inline."""

    #: calls answered without the thread pool (for tests and benchmarks).
    literal_lookups = 0

    async def getaddrinfo(
            self, host: bytes | str | None, port: bytes | str | int | None, *,
            family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list[Any]:
        if is_address_literal(host) and _is_port_number(port):
            try:
                found = socket.getaddrinfo(host, port, family, type, proto, flags | _NUMERIC)
            except socket.gaierror:
                pass  # asked again in the thread, which raises what asyncio always raised
            else:
                self.literal_lookups += 1
                return found
        return await super().getaddrinfo(host, port, family=family, type=type, proto=proto,
                                         flags=flags)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a :class:`LiteralResolvingLoop`."""
    with asyncio.Runner(loop_factory=LiteralResolvingLoop) as runner:
        return runner.run(main)
