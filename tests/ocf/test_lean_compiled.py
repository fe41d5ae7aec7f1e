"""The compiled lean GET path (``ocf.lean_compiled``, docs/design.md "The compiled GET path").

The library is built at install (``hatch_build.py``); the test environment has a C compiler
(``scripts/test`` installs one), so it must be here. A raw UDP client sends the same datagrams
to a virtual device served with the compiled path and to one served by aiocoap alone, and
compares the answers; the thread's own counter shows which ones it answered (the Python lean
path answers the first of each GET and hands the answer to the thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from aiocoap import Message
from aiocoap.numbers.codes import Code
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.identity import IdentityBook
from bridge.core.registry import CommandHandler, Registry
from bridge.core.thing import Side, Thing
from bridge.model.types import Catalogue, Value
from bridge.ocf import lean_compiled
from bridge.ocf.coap_messages import NON
from bridge.ocf.coap_server import CoapEndpoint
from bridge.ocf.config import OcfConfig
from bridge.ocf.lean_compiled import CompiledWindow, library
from bridge.ocf.limits import ClientLimits, Window
from bridge.ocf.virtual import VirtualOcfDevices
from bridge.sim.testing.procs import free_udp_port
from tests.ocf.test_lean_get import (
    Client,
    Pair,
    ReadingOrigin,
    client,
    get,
    pair,
    same_but_mid,
)
from tests.ocf.things import RecordingOrigin, alljoyn_lamp

__all__ = ["client", "pair"]  # the fixtures of tests/ocf/test_lean_get.py

#: Run on asyncio's loop and on uvloop's (tests/ocf/conftest.py).
BOTH_LOOPS = True


def test_the_library_is_built_and_loads() -> None:
    assert lean_compiled.LIBRARY.exists(), "hatch_build.py did not build the library"
    assert library() is not None


@contextlib.asynccontextmanager
async def serving(registry: Registry, catalogue: Catalogue, origin: CommandHandler | None = None,
                  **options: Any) -> AsyncIterator[tuple[VirtualOcfDevices, CoapEndpoint]]:
    """A virtual OCF copy of an AllJoyn lamp served from ``origin``, with ``options`` for
    :class:`VirtualOcfDevices`; shut down after."""
    registry.register_handler(Side.ALLJOYN, origin or RecordingOrigin())
    thing = registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))
    virtual = VirtualOcfDevices(registry, gateway_name="Test gateway", bind_host="::",
                                server_port=free_udp_port("::1"), multicast=[],
                                max_payload=4096, **options)
    await virtual.start()
    await virtual.wait_idle()
    try:
        yield virtual, virtual.virtuals[thing.id].endpoint
    finally:
        await virtual.shutdown()


def compiled_of(pair: Pair) -> tuple[lean_compiled.CompiledPath, int]:
    lean = pair.lean.virtuals[pair.thing.id].endpoint.lean
    assert lean is not None and lean.compiled is not None
    return lean.compiled, lean._fd


async def test_repeats_are_the_threads_with_the_bytes_aiocoap_sends(
        pair: Pair, client: Client) -> None:
    path, fd = compiled_of(pair)
    for path_name in ("/switch", "/brightness", "/oic/d"):
        first = get(path_name, 0x2000 + len(path_name))
        await client.exchange(pair.port(pair.lean), first)
    before = path.answered(fd)
    assert before == 0  # each first one: the Python lean path
    for round_ in range(16):
        for index, path_name in enumerate(("/switch", "/brightness", "/oic/d")):
            # A message id of its own per request: a source's repeated id is a duplicate.
            mid = 0x2100 + 0x40 * index + round_
            request = get(path_name, mid, token=mid.to_bytes(2, "big"))
            lean, plain = await pair.both(client, request)
            assert lean == plain
            non = get(path_name, mid + 0x400, mtype=NON, token=b"\x07")
            lean, plain = await pair.both(client, non)
            assert same_but_mid(lean, plain)
    assert path.answered(fd) == 16 * 3 * 2
    assert pair.answered == 3 + 16 * 3 * 2
    assert path.lost == 0


async def test_a_changed_state_is_answered_at_once(pair: Pair, client: Client) -> None:
    path, fd = compiled_of(pair)
    port = pair.port(pair.lean)

    async def value(mid: int) -> Value:
        reply = Message.decode(await client.exchange(port, get("/switch", mid)))
        return cbor2.loads(reply.payload)["value"]  # type: ignore[no-any-return]

    assert await value(0x3001) is False
    assert await value(0x3002) is False
    assert path.answered(fd) == 1
    pair.registry.update_state(pair.thing.id, "switch", {"on": True})
    # The change dropped the thread's answer: the Python lean path answers with the new
    # state and hands the thread the new answer.
    assert await value(0x3003) is True
    assert await value(0x3004) is True
    assert path.answered(fd) == 2


async def test_a_repeated_con_answered_by_the_thread_gets_its_answer_after_a_change(
        pair: Pair, client: Client) -> None:
    path, fd = compiled_of(pair)
    port = pair.port(pair.lean)
    await client.exchange(port, get("/switch", 0x3101))
    request = get("/switch", 0x3102)
    first = await client.exchange(port, request)
    assert path.answered(fd) == 1
    pair.registry.update_state(pair.thing.id, "switch", {"on": True})
    assert await client.exchange(port, request) == first
    # A repeated NON the thread answered is not answered again.
    non = get("/switch", 0x3103, mtype=NON, token=b"\x01")
    assert cbor2.loads(Message.decode(await client.exchange(port, non)).payload) == {
        "value": True}
    answered = path.answered(fd)
    await client.send(port, non)
    marker = get("/switch", 0x3104, token=b"\x02")
    assert Message.decode(await client.exchange(port, marker)).token == b"\x02"
    assert path.answered(fd) == answered + 2  # the repeat (not answered) and the marker


async def test_switched_off_the_python_lean_path_reads_the_socket(
        registry: Registry, catalogue: Catalogue, client: Client) -> None:
    async with serving(registry, catalogue, lean_compiled=False) as (_, endpoint):
        assert endpoint.lean is not None and endpoint.lean.compiled is None
        for mid in (0x3201, 0x3202, 0x3203):
            reply = Message.decode(await client.exchange(endpoint.port, get("/switch", mid)))
            assert reply.code == Code.CONTENT
        assert endpoint.lean.answered == 3


async def test_the_thread_ends_with_the_last_socket(registry: Registry, catalogue: Catalogue,
                                                    client: Client) -> None:
    async with serving(registry, catalogue) as (_, endpoint):
        assert endpoint.lean is not None
        path = endpoint.lean.compiled
        assert path is not None and path.handle is not None
        threads = len(os.listdir("/proc/self/task"))
    assert path.handle is None
    assert asyncio.get_running_loop() not in lean_compiled._PATHS
    assert len(os.listdir("/proc/self/task")) == threads - 1


class FreshFor(ReadingOrigin):
    """An origin that reads through and says until when its last read is fresh; the test
    moves the compiled path's clock to that time."""

    def __init__(self) -> None:
        super().__init__()
        self.until = -math.inf

    def fresh_until(self, thing: Thing, capability: str) -> float:
        return self.until


async def test_a_read_through_resource_is_the_threads_only_until_a_read_is_due(
        registry: Registry, catalogue: Catalogue, client: Client) -> None:
    origin = FreshFor()
    async with serving(registry, catalogue, origin) as (_, endpoint):
        assert endpoint.lean is not None and endpoint.lean.compiled is not None
        path, fd = endpoint.lean.compiled, endpoint.lean._fd
        path.set_now(1000.0)

        async def value(mid: int) -> Value:
            reply = Message.decode(await client.exchange(endpoint.port, get("/switch", mid)))
            return cbor2.loads(reply.payload)["value"]  # type: ignore[no-any-return]

        # Read a moment ago, fresh until 1010.
        origin.is_fresh, origin.until = True, 1010.0
        assert [await value(mid) for mid in (0x3301, 0x3302, 0x3303)] == [False] * 3
        assert path.answered(fd) == 2 and origin.reads == 0
        # At 1010 a read is due: the thread hands the GET on, and aiocoap's path reads the
        # device first.
        path.set_now(1010.0)
        origin.is_fresh, origin.device_value = False, True
        assert await value(0x3304) is True
        assert origin.reads == 1 and path.answered(fd) == 2


HOSTS = st.sampled_from(["10.0.0.1", "10.0.0.2", "fe80::1%2", "::1"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(HOSTS, st.integers(0, 5), st.floats(0.0, 3.0)), max_size=40),
       st.integers(1, 4), st.integers(1, 8))
def test_the_compiled_window_counts_as_the_python_one(
        steps: list[tuple[str, int, float]], per_client: int, total: int) -> None:
    python, compiled = Window(per_client, total, lifetime=2.0), CompiledWindow(
        per_client, total, lifetime=2.0)
    now = 100.0
    for host, mid, later in steps:
        now += later
        key = (host.split("%")[0], 5683, mid)
        expected, got = python.take(host, key, now), compiled.take(host, key, now)
        assert (expected is None) == (got is None), (host, key, now)
        if expected is not None:
            assert got is not None and math.isclose(expected, got, abs_tol=1e-9)
        python._forget(now)
        assert len(python._order) == compiled._lib.ow_total(compiled.handle, now)
        assert (len(python._by_host.get(host, ()))
                == compiled._lib.ow_count(compiled.handle, host.encode(), len(host), now))


async def test_the_window_moves_into_the_library_with_its_records(
        registry: Registry, catalogue: Catalogue) -> None:
    # The gateway's window holds requests counted before the first virtual device (to the
    # bridge device, say); the first virtual device moves it into the library with them.
    limits = ClientLimits(OcfConfig())
    assert type(limits.requests) is Window
    limits.requests.take("10.0.0.9", ("::ffff:10.0.0.9", 5683, 7))
    async with serving(registry, catalogue, limits=limits) as (virtual, _):
        assert virtual.lean_compiled
        window = limits.requests
        assert isinstance(window, CompiledWindow)
        assert window.per_client == OcfConfig().max_requests_per_client
        assert window.count("10.0.0.9") == 1 and window.total == 1
        # The same request again takes no room.
        assert window.take("10.0.0.9", ("::ffff:10.0.0.9", 5683, 7)) is None
        assert window.total == 1


async def test_one_window_counts_a_clients_requests_on_both_paths(
        registry: Registry, catalogue: Catalogue) -> None:
    # The thread counts a request in the window before it answers or hands it on, the Python
    # side (the lean path, aiocoap's dispatch) again when it gets it: both must name the
    # request the same, an IPv4 client of the dual-stack socket too, or a request would take
    # room twice and the caps would bite early.
    limits = ClientLimits(OcfConfig(max_requests_per_client=3, max_requests=100))
    v4 = Client(socket.AF_INET)
    async with serving(registry, catalogue, limits=limits) as (_, endpoint):
        assert endpoint.lean is not None and endpoint.lean.compiled is not None
        window = limits.requests
        assert isinstance(window, CompiledWindow)
        codes = [Message.decode(await v4.exchange(endpoint.port, get("/switch", mid))).code
                 for mid in (0x3401, 0x3402, 0x3403)]
        assert codes == [Code.CONTENT] * 3
        assert window.total == 3 and window.count("127.0.0.1") == 3
        assert endpoint.lean.compiled.answered(endpoint.lean._fd) == 2
        refused = Message.decode(await v4.exchange(endpoint.port, get("/switch", 0x3404)))
        assert refused.code == Code.SERVICE_UNAVAILABLE and limits.refused.requests == 1
        assert window.total == 3
    v4.close()


async def test_without_the_library_the_python_lean_path_answers(
        registry: Registry, catalogue: Catalogue, client: Client, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # An install without a C compiler: no library next to the module.
    monkeypatch.setattr(lean_compiled, "LIBRARY", tmp_path / "_lean_serve.so")
    monkeypatch.setattr(lean_compiled, "_tried", False)
    monkeypatch.setattr(lean_compiled, "_loaded", None)
    assert library() is None
    assert lean_compiled.describe(True).startswith("not built (the install found no C compiler")
    limits = ClientLimits(OcfConfig())
    async with serving(registry, catalogue, limits=limits) as (virtual, endpoint):
        assert not virtual.lean_compiled and type(limits.requests) is Window
        assert endpoint.lean is not None and endpoint.lean.compiled is None
        for mid in (0x3501, 0x3502, 0x3503):
            reply = Message.decode(await client.exchange(endpoint.port, get("/switch", mid)))
            assert reply.code == Code.CONTENT
        assert endpoint.lean.answered == 3


def test_the_start_log_says_whether_it_is_on() -> None:
    assert lean_compiled.describe(True) == "on"
    assert lean_compiled.describe(False) == "off (ocf.lean_get or ocf.lean_compiled is false)"
