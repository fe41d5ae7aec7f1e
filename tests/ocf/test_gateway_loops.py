"""The gateway's two event loops keep reading a UDP socket after an ICMP error.

aiocoap's udp6 sockets ask for ICMP errors (``IPV6_RECVERR``): a request to a closed port
comes back as an entry in the socket's error queue, and the socket polls with an error
condition. asyncio's selector loop keeps watching such a socket; libuv, under uvloop, stops
watching it while uvloop still counts the reader as registered, so without the gateway's
re-arming reader (``bridge.daemon.event_loop``) every virtual OCF device and every client
context would go deaf after the first unreachable peer. Each test runs on both loops.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import aiocoap
import aiocoap.error
import pytest

from bridge.daemon.event_loop import loop_factory
from tests.ocf.hello_site import get_hello, hello_server

IPV6_RECVERR = 25  # linux/in6.h; the socket module does not name it
ANSWER_WAIT = 20.0
LOOPS = ("asyncio", "uvloop")


def run_on(choice: str, main: Callable[[], object]) -> object:
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:  # type: ignore[arg-type]
        return runner.run(main())  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as closing:
        closing.bind(("::1", 0))
        return int(closing.getsockname()[1])


@pytest.mark.parametrize("choice", LOOPS)
def test_an_aiocoap_server_answers_after_its_request_to_a_closed_port_failed(
        choice: str) -> None:
    async def main() -> tuple[type[BaseException], list[bytes]]:
        async with hello_server() as (server, client, port):
            async with asyncio.timeout(ANSWER_WAIT):
                try:
                    await server.request(aiocoap.Message(
                        code=aiocoap.GET, uri=f"coap://[::1]:{closed_port()}/x")).response
                except Exception as err:  # the ICMP error, as aiocoap reports it
                    failure: type[BaseException] = type(err)
                # Several times over: one wake-up on the error condition re-arms once.
                return failure, [await get_hello(client, port) for _ in range(3)]

    failure, payloads = run_on(choice, main)  # type: ignore[misc]
    assert issubclass(failure, aiocoap.error.NetworkError)
    assert payloads == [b"hello"] * 3


@pytest.mark.parametrize("choice", LOOPS)
def test_a_reader_sees_the_error_then_the_next_datagrams(choice: str) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        seen: list[str] = []
        errored, enough = asyncio.Event(), asyncio.Event()
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock, \
                socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as peer:
            sock.bind(("::1", 0))
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)

            def readable() -> None:
                try:
                    seen.append(sock.recv(100).decode())
                except OSError as err:
                    seen.append(f"errno {err.errno}")
                    sock.recvmsg(100, 1024, socket.MSG_ERRQUEUE)
                    errored.set()
                if len(seen) == 3:
                    enough.set()

            loop.add_reader(sock.fileno(), readable)
            try:
                sock.sendto(b"x", ("::1", closed_port()))
                async with asyncio.timeout(ANSWER_WAIT):
                    await errored.wait()  # the error arrives first
                    for text in ("one", "two"):
                        peer.sendto(text.encode(), sock.getsockname()[:2])
                    await enough.wait()
            finally:
                loop.remove_reader(sock.fileno())
        return seen

    assert run_on(choice, main) == [f"errno {111}", "one", "two"]


@pytest.mark.parametrize("choice", LOOPS)
def test_a_stream_socket_reader_is_called_as_registered(choice: str) -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        left, right = socket.socketpair()
        got: asyncio.Future[bytes] = loop.create_future()
        with left, right:
            loop.add_reader(left.fileno(), lambda tag: got.done() or got.set_result(
                tag + left.recv(10)), b"tag:")
            right.send(b"data")
            try:
                async with asyncio.timeout(ANSWER_WAIT):
                    return await got
            finally:
                loop.remove_reader(left.fileno())
    assert run_on(choice, main) == b"tag:data"
