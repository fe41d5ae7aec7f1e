"""CoAP requests with random options to a virtual OCF device and to the gateway's ``/oic/res``
listener, as raw datagrams over loopback (issue 9 point 3).

Option numbers (critical and elective, known and unknown), option values, Uri-Path, query,
Content-Format, Accept and the OCF version options are drawn at random, plus payloads and
mutated datagrams. Every well-formed confirmable request gets an answer that is a success or a
4.xx client error (never a 5.xx), nothing reaches the device unless the request was a valid
write, and the server keeps answering a plain GET.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import AsyncIterator

import cbor2
import pytest
from aiocoap import CON, Message
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import OpaqueOption, UintOption
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Side
from bridge.model import load_catalogue
from bridge.ocf.virtual import VirtualOcfDevices
from bridge.sim.testing.procs import free_udp_port
from tests.fuzz.conftest import Record
from tests.ocf.things import RecordingOrigin, alljoyn_lamp

OCF_CBOR = 10000
ACCEPT_VERSION, CONTENT_VERSION = 2049, 2053
# Options aiocoap interprets itself (Observe, Block, Size, proxying) are left to its own tests;
# here they would only turn a request into a long observation or a block transfer.
SPECIAL = {6, 23, 27, 28, 35, 39, 60, 3, 7, 1, 4, 5, 8, 9, 252, 258}
#: string-format options (RFC 7252 table 4). aiocoap drops a datagram whose string option is
#: not UTF-8 without any answer and logs a traceback (upstream chrysn/aiocoap#176, #417):
#: such requests are only required not to disturb the server.
STRING_OPTIONS = {3, 8, 11, 15, 20, 35, 39}
# Raw datagrams need our own message ids and tokens, which aiocoap marks as deprecated API.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _undecodable(msg: Message) -> bool:
    for option in msg.opt.option_list():
        if int(option.number) in STRING_OPTIONS:
            try:
                option.encode().decode("utf-8")
            except UnicodeDecodeError:
                return True
    return False


class Server:
    def __init__(self, virtual: VirtualOcfDevices, origin: RecordingOrigin, port: int,
                 listener: int, hrefs: list[str]) -> None:
        self.virtual, self.origin, self.port, self.listener = virtual, origin, port, listener
        self.hrefs = hrefs


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    registry = Registry(EventBus())
    origin = RecordingOrigin()
    registry.register_handler(Side.ALLJOYN, origin)
    thing = registry.upsert(alljoyn_lamp(load_catalogue(), IdentityBook()))
    virtual = VirtualOcfDevices(registry, gateway_name="Fuzz gateway", bind_host="::",
                                server_port=free_udp_port("::1"), multicast=[],
                                max_payload=1024)
    await virtual.start()
    await virtual.wait_idle()
    try:
        served = virtual.virtuals[thing.id]
        hrefs = ["/oic/res", "/oic/d", "/oic/p", *served.layout.device.resources]
        yield Server(virtual, origin, served.endpoint.port, virtual.listener.port, hrefs)
    finally:
        await virtual.shutdown()


option_numbers = st.one_of(st.integers(0, 300), st.integers(0, 65000),
                           st.sampled_from([11, 12, 15, 17, 2049, 2053, 2048, 2050, 65000]))
option_values = st.one_of(st.binary(max_size=12), st.integers(0, 2**32 - 1).map(
    lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")))


@st.composite
def requests(draw: st.DrawFn, hrefs: list[str]) -> Message:
    code = draw(st.sampled_from([Code.GET, Code.POST, Code.PUT, Code.DELETE, Code.FETCH]))
    msg = Message(code=code, mtype=CON, token=draw(st.binary(min_size=1, max_size=8)))
    href = draw(st.one_of(st.sampled_from(hrefs), st.text(max_size=12).map(lambda t: "/" + t)))
    msg.opt.uri_path = tuple(part for part in href.split("/") if part)
    if draw(st.booleans()):
        msg.opt.uri_query = tuple(draw(st.lists(st.sampled_from(
            ["if=oic.if.baseline", "if=oic.if.ll", "if=oic.if.a", "rt=oic.r.switch.binary",
             "if=", "x=1", "rt=nonexistent"]) | st.text(max_size=10), max_size=3)))
    if draw(st.booleans()):
        msg.opt.content_format = draw(st.sampled_from([OCF_CBOR, 60, 50, 40, 0, 65535]))
    if draw(st.booleans()):
        msg.opt.accept = draw(st.sampled_from([OCF_CBOR, 60, 50, 40, 0, 65535]))
    for number in (ACCEPT_VERSION, CONTENT_VERSION):
        if draw(st.booleans()):
            msg.opt.add_option(UintOption(number, draw(st.sampled_from(
                [2048, 2112, 0, 1, 65535, 2**31]))))
    for _ in range(draw(st.integers(0, 3))):
        number = draw(option_numbers.filter(lambda n: n not in SPECIAL))
        msg.opt.add_option(OpaqueOption(number, draw(option_values)))
    msg.payload = draw(st.one_of(st.just(b""), st.binary(max_size=40), st.sampled_from(
        [cbor2.dumps({"value": True}), cbor2.dumps({"brightness": 50}),
         cbor2.dumps({"brightness": 500}), cbor2.dumps([1, 2])])))
    return msg


def _mutate(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    raw = bytearray(data)
    for index, value in flips:
        raw[index % len(raw)] = value
    return bytes(raw)


def _decoded(reply: bytes) -> Message:
    try:
        return Message.decode(reply)
    except Exception:
        raise AssertionError(f"the server sent an undecodable datagram {reply!r}") from None


async def _exchange(sock: socket.socket, data: bytes, port: int, mid: int,
                    wait: float) -> Message | None:
    loop = asyncio.get_running_loop()
    await loop.sock_sendto(sock, data, ("::1", port))
    deadline = loop.time() + wait
    while (left := deadline - loop.time()) > 0:
        try:
            reply, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 4096), left)
        except TimeoutError:
            return None
        message = _decoded(reply)
        if message.mid == mid:
            return message
    return None


async def _probed(sock: socket.socket, prober: socket.socket, data: bytes, port: int,
                  mid: int, probe: Message) -> tuple[Message | None, Message | None]:
    """Send ``data`` from ``sock``, then ``probe`` (a plain GET) from ``prober`` to the same
    port, and wait for the probe's answer. The server handles one port's datagrams in order,
    so whatever it answered ``data`` with is in ``sock``'s queue by then. Probes have their
    own socket: a mangled datagram's message id can never be taken for a probe's repeat.
    Returns (answer to ``data`` or None, answer to the probe or None)."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendto(sock, data, ("::1", port))
    probed = await _exchange(prober, probe.encode(), port, probe.mid, 5.0)
    answer: Message | None = None
    while True:
        try:
            reply = sock.recv(4096)
        except BlockingIOError:
            return answer, probed
        message = _decoded(reply)
        if message.mid == mid:
            answer = message


def _get(href: str, mid: int) -> Message:
    msg = Message(code=Code.GET, mtype=CON, mid=mid & 0xFFFF, token=os.urandom(4),
                  uri_path=tuple(p for p in href.split("/") if p))
    msg.opt.accept = OCF_CBOR
    return msg


async def _plain_get(sock: socket.socket, port: int, href: str, mid: int) -> Message | None:
    # ``mid`` must be new to the server: a repeated one would get the answer it got before.
    msg = _get(href, mid)
    return await _exchange(sock, msg.encode(), port, msg.mid, 5.0)


async def test_random_options_get_4xx_and_the_server_keeps_answering(
        server: Server, fuzz_cases: Record) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::1", 0))
    sock.setblocking(False)
    prober = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    prober.bind(("::1", 0))
    prober.setblocking(False)
    cases = answered = dropped = 0
    mids, probe_mids = itertools.count(1), itertools.count(1)
    codes: dict[str, int] = {}

    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
    @given(msg=requests(server.hrefs), to_listener=st.integers(0, 4),
           flips=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=3))
    def run(msg: Message, to_listener: int, flips: list[tuple[int, int]]) -> None:
        nonlocal cases, answered, dropped
        cases += 1
        port = server.listener if to_listener == 0 else server.port
        # One source port for every case: a repeated message id would be (rightly) taken as a
        # retransmission by the server's deduplication, so each case gets a fresh id.
        msg.mid = next(mids) & 0xFFFF
        before = len(server.origin.commands)
        try:
            data = msg.encode()
        except Exception:
            return  # aiocoap refuses to encode it: nothing a peer could send either
        mutated = bool(flips)
        if mutated:
            data = _mutate(data, flips)
        unanswerable = mutated or _undecodable(msg)
        if unanswerable:
            # A mangled datagram may be dropped, answered or reset; the server must go on
            # answering, which a plain GET right behind it shows (and bounds the wait).
            probe = _get("/oic/res" if port == server.listener else server.hrefs[1],
                         next(probe_mids))
            reply, probed = asyncio.run_coroutine_threadsafe(
                _probed(sock, prober, data, port, msg.mid, probe), loop).result(10)
            assert probed is not None and probed.code == Code.CONTENT, (
                f"no answer to a plain GET after {data!r}: {probed!r}")
            dropped += reply is None
            return
        reply = asyncio.run_coroutine_threadsafe(
            _exchange(sock, data, port, msg.mid, 5.0), loop).result(10)
        assert reply is not None, f"no answer to {msg!r} {msg.opt!r}"
        answered += 1
        dotted = str(reply.code.dotted)
        codes[dotted] = codes.get(dotted, 0) + 1
        if reply.code == Code.EMPTY:
            return  # an RST for a message the server could not parse
        assert reply.code.is_successful() or reply.code.class_ == 4, (dotted, msg, msg.opt,
                                                                      reply.payload)
        if not reply.code.is_successful():
            assert len(server.origin.commands) == before

    try:
        await asyncio.to_thread(run)
        for href in server.hrefs[1:3]:
            reply = await _plain_get(sock, server.port, href, next(mids))
            assert reply is not None and reply.code == Code.CONTENT, reply
        reply = await _plain_get(sock, server.listener, "/oic/res", next(mids))
        assert reply is not None and reply.code == Code.CONTENT, reply
    finally:
        sock.close()
        prober.close()
    fuzz_cases("CoAP requests with random options", cases)
    print(f"\nCoAP option fuzz: {answered} answered {codes}, {dropped} malformed dropped")
    assert cases >= 1500 and answered >= 500, (cases, answered, codes)


