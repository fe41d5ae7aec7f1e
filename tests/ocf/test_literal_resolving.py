"""The gateway's event loop resolves address literals without its thread pool.

aiocoap resolves the host of every new remote and the bind address of every server context
through ``loop.getaddrinfo``, which asyncio always hands to a worker thread, even for
``169.254.0.7``. ``ocfaj run`` runs on :class:`LiteralResolvingLoop`, which answers literals
at once; these tests count the calls that reach the loop's executor, with asyncio's own loop
beside it as the control that shows what is counted. uvloop's loop (``[gateway] event_loop``
``auto``, where uvloop is installed) hands look-ups to libuv's own thread pool, not to the
executor: there the tests count the literals answered inline and compare the answers.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from bridge.daemon import event_loop, run_command
from bridge.daemon.event_loop import (
    LiteralResolvingLoop,
    is_address_literal,
    loop_factory,
    uvloop_class,
)
from tests.ocf.hello_site import get_hello, hello_server

UVLOOP = uvloop_class()


class CountingExecutor(ThreadPoolExecutor):
    """A real thread pool that counts the calls handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.calls = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.calls += 1
        return super().submit(fn, *args, **kwargs)


async def _serve_and_ask(executor: CountingExecutor) -> bytes:
    """A real aiocoap server on ::1 port 0 and a client request to its literal address."""
    asyncio.get_running_loop().set_default_executor(executor)
    async with hello_server() as (_, client, port):
        return await get_hello(client, port)


def _run_on(loop: asyncio.AbstractEventLoop, executor: CountingExecutor) -> bytes:
    try:
        return loop.run_until_complete(_serve_and_ask(executor))
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def test_an_aiocoap_server_and_request_at_literal_addresses_use_no_thread() -> None:
    control, counted = CountingExecutor(), CountingExecutor()
    # asyncio's own loop: the bind address and the request's host each go to a thread.
    assert _run_on(asyncio.SelectorEventLoop(), control) == b"hello"
    assert control.calls >= 2
    loop = LiteralResolvingLoop()
    assert _run_on(loop, counted) == b"hello"
    assert counted.calls == 0
    assert loop.literal_lookups >= 2


@pytest.mark.parametrize("host, family", [
    ("169.254.0.7", socket.AF_UNSPEC), ("::1", socket.AF_INET6),
    ("fe80::1%lo", socket.AF_INET6), ("::ffff:169.254.0.7", socket.AF_INET6)])
def test_a_literal_gets_the_answer_the_thread_would_give(host: str, family: int) -> None:
    executor = CountingExecutor()
    loop = LiteralResolvingLoop()
    loop.set_default_executor(executor)
    try:
        got = loop.run_until_complete(loop.getaddrinfo(
            host, 5683, family=family, type=socket.SOCK_DGRAM))
    finally:
        loop.close()
    assert got == socket.getaddrinfo(host, 5683, family, socket.SOCK_DGRAM)
    assert executor.calls == 0


def test_names_and_bad_literals_still_go_to_the_thread() -> None:
    executor = CountingExecutor()
    loop = LiteralResolvingLoop()
    loop.set_default_executor(executor)
    try:
        by_name = loop.run_until_complete(loop.getaddrinfo("localhost", 5683,
                                                           type=socket.SOCK_DGRAM))
        port_text = loop.run_until_complete(loop.getaddrinfo("::1", "5683",
                                                             type=socket.SOCK_DGRAM))
        with pytest.raises(socket.gaierror):
            # A zone that names no interface: the thread's call raises asyncio's error.
            loop.run_until_complete(loop.getaddrinfo("fe80::1%nosuchif0", 5683))
    finally:
        loop.close()
    assert by_name and port_text[0][4][:2] == ("::1", 5683)
    assert executor.calls == 2  # the name and the bad zone; the port written as text: none


def test_what_counts_as_an_address_literal() -> None:
    assert all(map(is_address_literal, ["10.0.0.1", "::", "fd00:cfa::1", "fe80::1%eth0",
                                        b"127.0.0.1"]))
    assert not any(map(is_address_literal, ["", None, "localhost", "10.0.0", "[::1]",
                                            "fe80::zz", 5683]))


def test_ocfaj_run_runs_on_the_literal_resolving_loop() -> None:
    async def which_loop() -> str:
        return type(asyncio.get_running_loop()).__name__

    assert run_command.run_on_gateway_loop is event_loop.run
    assert event_loop.run(which_loop(), "asyncio") == "LiteralResolvingLoop"
    assert event_loop.run(which_loop(), "uvloop") == "LiteralResolvingUvloop"
    assert event_loop.run(which_loop()) == "LiteralResolvingUvloop"  # auto: uvloop is here


def test_the_uvloop_loop_serves_aiocoap_and_answers_literals_inline() -> None:
    assert UVLOOP is not None, "uvloop is a dependency on this machine (pyproject.toml)"
    loop = UVLOOP()
    assert _run_on(loop, CountingExecutor()) == b"hello"
    assert loop.literal_lookups >= 2  # type: ignore[attr-defined]


@pytest.mark.parametrize("host, family", [
    ("169.254.0.7", socket.AF_UNSPEC), ("fe80::1%lo", socket.AF_INET6)])
def test_the_uvloop_loop_gives_the_c_librarys_answer(host: str, family: int) -> None:
    loop = loop_factory("uvloop")()
    try:
        got = loop.run_until_complete(loop.getaddrinfo(
            host, 5683, family=family, type=socket.SOCK_DGRAM))
        by_name = loop.run_until_complete(loop.getaddrinfo("localhost", 5683,
                                                           type=socket.SOCK_DGRAM))
        with pytest.raises(socket.gaierror):
            loop.run_until_complete(loop.getaddrinfo("fe80::1%nosuchif0", 5683))
    finally:
        loop.close()
    assert got == socket.getaddrinfo(host, 5683, family, socket.SOCK_DGRAM)
    assert by_name and loop.literal_lookups == 1  # type: ignore[attr-defined]


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_loop, "uvloop_class", lambda: None)
    assert loop_factory("auto") is LiteralResolvingLoop
    with pytest.raises(RuntimeError, match=r"pip install .ocfaj\[uvloop\]."):
        loop_factory("uvloop")
