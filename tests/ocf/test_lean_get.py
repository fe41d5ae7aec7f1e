"""The lean GET path (``ocf.lean_get``, docs/ocf.md "The lean GET path") against aiocoap.

Two gateways' virtual OCF sides serve the same Thing of one registry: one with the lean path
(the default), one with ``lean_get = false``, where aiocoap answers everything. A raw UDP
client sends each the same datagrams and compares the answers byte for byte (a NON answer's
message id aside, which each server picks). The lean path's counter shows which requests it
answered itself: the hot GETs, and nothing else (errors, Block2, observe, POST, ``/oic/res``).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import cbor2
import pytest
from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import UintOption

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Side, Thing
from bridge.model.types import Catalogue, Value
from bridge.ocf import wire
from bridge.ocf.coap_messages import CON, NON, Header, datagram
from bridge.ocf.config import OcfConfig
from bridge.ocf.lean_path import BATCH
from bridge.ocf.limits import EXCHANGE_LIFETIME, ClientLimits
from bridge.ocf.virtual import VirtualOcfDevices
from bridge.sim.testing.procs import free_udp_port
from tests.ocf.things import RecordingOrigin, alljoyn_lamp

#: Run on asyncio's loop and on uvloop's (tests/ocf/conftest.py).
BOTH_LOOPS = True

WIDGET = "/widget/main/x.org.example.-widget"
#: Long enough to wait for an answer on a loaded machine; no timing is asserted.
ANSWER_WAIT = 20.0


def get(path: str, mid: int, *, mtype: int = CON, token: bytes = b"\x5a\x01",
        query: Sequence[str] = (), accept: int | None = None, version: int | None = None,
        code: Code = Code.GET, payload: bytes = b"", **options: Any) -> bytes:
    message = Message(code=code, uri_path=[p for p in path.split("/") if p],
                      uri_query=list(query), payload=payload, **options)
    if accept is not None:
        message.opt.accept = accept
    if version is not None:
        message.opt.add_option(UintOption(wire.OPT_ACCEPT_VERSION, version))
    return datagram(message, Header(mtype, mid, token))


class Client:
    """A plain UDP socket: what it sends is exactly the bytes given."""

    def __init__(self, family: int = socket.AF_INET6) -> None:
        self.host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((self.host, 0))
        self.sock.setblocking(False)

    async def send(self, port: int, data: bytes) -> None:
        self.sock.sendto(data, (self.host, port))  # loopback UDP: never would block

    async def receive(self) -> bytes:
        """The next datagram, through the loop's ``add_reader`` (uvloop has no
        ``sock_recvfrom``)."""
        try:
            return self.sock.recv(65536)
        except BlockingIOError:
            pass
        loop = asyncio.get_running_loop()
        arrived: asyncio.Future[bytes] = loop.create_future()

        def readable() -> None:
            if arrived.done():
                return  # the next one stays queued for the next receive
            try:
                arrived.set_result(self.sock.recv(65536))
            except BlockingIOError:
                pass

        loop.add_reader(self.sock.fileno(), readable)
        try:
            async with asyncio.timeout(ANSWER_WAIT):
                return await arrived
        finally:
            loop.remove_reader(self.sock.fileno())

    async def exchange(self, port: int, data: bytes) -> bytes:
        await self.send(port, data)
        return await self.receive()

    def close(self) -> None:
        self.sock.close()


class Pair:
    def __init__(self, registry: Registry, thing: Thing, lean: VirtualOcfDevices,
                 plain: VirtualOcfDevices) -> None:
        self.registry, self.thing, self.lean, self.plain = registry, thing, lean, plain

    def port(self, side: VirtualOcfDevices) -> int:
        return side.virtuals[self.thing.id].endpoint.port

    @property
    def answered(self) -> int:
        lean = self.lean.virtuals[self.thing.id].endpoint.lean
        assert lean is not None
        return lean.answered

    async def both(self, client: Client, data: bytes) -> tuple[bytes, bytes]:
        """The lean side's and aiocoap's answers to the same datagram."""
        return (await client.exchange(self.port(self.lean), data),
                await client.exchange(self.port(self.plain), data))


def side(registry: Registry, *, lean_get: bool, limits: ClientLimits | None = None
         ) -> VirtualOcfDevices:
    return VirtualOcfDevices(registry, gateway_name="Test gateway", bind_host="::",
                             server_port=free_udp_port("::1"), multicast=[], max_payload=4096,
                             limits=limits, lean_get=lean_get)


@pytest.fixture
async def pair(registry: Registry, catalogue: Catalogue) -> AsyncIterator[Pair]:
    registry.register_handler(Side.ALLJOYN, RecordingOrigin())
    thing = registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))
    lean, plain = side(registry, lean_get=True), side(registry, lean_get=False)
    for virtual in (lean, plain):
        await virtual.start()
        await virtual.wait_idle()
    try:
        yield Pair(registry, thing, lean, plain)
    finally:
        await lean.shutdown()
        await plain.shutdown()


@pytest.fixture
def client() -> Iterator[Client]:
    sock = Client()
    yield sock
    sock.close()


def same_but_mid(lean: bytes, plain: bytes) -> bool:
    return lean[:2] == plain[:2] and lean[4:] == plain[4:]


HOT = [
    ("CON GET", get("/switch", 0x1001)),
    ("no token", get("/switch", 0x1002, token=b"")),
    ("8-byte token", get("/brightness", 0x1003, token=bytes(range(1, 9)))),
    ("Accept 10000 and version 1.0.0", get("/temperature", 0x1004, accept=wire.CF_OCF_CBOR,
                                           version=wire.OCF_1_0)),
    ("a later OCF version", get("/switch", 0x1005, version=wire.version_value(2, 0, 5))),
    ("baseline", get("/switch", 0x1006, query=["if=oic.if.baseline"])),
    ("the default interface named", get("/switch", 0x1007, query=["if=oic.if.a"])),
    ("/oic/d", get("/oic/d", 0x1008)),
    ("/oic/p", get("/oic/p", 0x1009)),
    ("generic property group", get(f"{WIDGET}.true", 0x100A)),
]


@pytest.mark.parametrize(("what", "data"), HOT, ids=[what for what, _ in HOT])
async def test_lean_answers_are_the_bytes_aiocoap_sends(pair: Pair, client: Client,
                                                         what: str, data: bytes) -> None:
    before = pair.answered
    lean, plain = await pair.both(client, data)
    assert lean == plain
    assert lean[0] >> 4 == 0x6 and lean[1] == 0x45  # a piggybacked 2.05 Content
    assert pair.answered == before + 1


async def test_a_non_request_gets_a_non_answer_like_aiocoaps(pair: Pair, client: Client) -> None:
    lean, plain = await pair.both(client, get("/switch", 0x2001, mtype=NON, token=b"\x07"))
    assert same_but_mid(lean, plain)
    assert (lean[0] >> 4) & 0x03 == NON and pair.answered == 1


async def test_ipv4_clients_get_the_same_bytes(pair: Pair) -> None:
    v4 = Client(socket.AF_INET)
    try:
        lean, plain = await pair.both(v4, get("/brightness", 0x2101))
    finally:
        v4.close()
    assert lean == plain and pair.answered == 1


LEFT_TO_AIOCOAP = [
    ("unknown resource 4.04", get("/nothing/here", 0x3001)),
    ("Accept 60 is 4.06", get("/switch", 0x3002, accept=wire.CF_CBOR)),
    ("an OIC version is 4.15", get("/switch", 0x3003, version=wire.version_value(0, 9))),
    ("an interface not offered is 4.03", get("/switch", 0x3004, query=["if=oic.if.ll"])),
    ("another query", get("/switch", 0x3005, query=["rt=oic.r.switch.binary"])),
    ("DELETE is 4.05", get("/switch", 0x3006, code=Code.DELETE)),
    ("POST", get("/switch", 0x3007, code=Code.POST, payload=cbor2.dumps({"value": True}),
                 content_format=wire.CF_OCF_CBOR)),
    ("a GET with a payload", get("/switch", 0x3008, payload=b"\xa0")),
    ("Block2 asked for", get("/switch", 0x3009, block2=(0, False, 5))),
    ("an unknown critical option is 4.02", get("/switch", 0x300A, if_none_match=True)),
    ("/oic/res", get("/oic/res", 0x300B)),
    ("Uri-Host", get("/switch", 0x300C, uri_host="localhost")),
]


@pytest.mark.parametrize(("what", "data"), LEFT_TO_AIOCOAP, ids=[w for w, _ in LEFT_TO_AIOCOAP])
async def test_other_requests_keep_aiocoaps_answer(pair: Pair, client: Client, what: str,
                                                   data: bytes) -> None:
    lean, plain = await pair.both(client, data)
    # /oic/res lists each server's own port in its eps (both ephemeral, five digits).
    ports = (str(pair.port(pair.lean)).encode(), str(pair.port(pair.plain)).encode())
    assert lean.replace(ports[0], b"<port>") == plain.replace(ports[1], b"<port>")
    assert pair.answered == 0


async def test_a_representation_past_one_block_goes_block_wise_through_aiocoap(
        pair: Pair, client: Client) -> None:
    pair.registry.update_state(pair.thing.id, "widget", {"Serial_Number": "S" * 1500})
    first, plain_first = await pair.both(client, get(f"{WIDGET}.const", 0x3101))
    assert first == plain_first
    reply = Message.decode(first)
    assert reply.opt.block2 is not None and reply.opt.block2.more
    assert len(reply.payload) == 1024
    rest, plain_rest = await pair.both(client, get(f"{WIDGET}.const", 0x3102,
                                                   block2=(1, False, 6)))
    assert rest == plain_rest
    whole = cbor2.loads(reply.payload + Message.decode(rest).payload)
    assert whole == {"Serial_Number": "S" * 1500}
    assert pair.answered == 0


async def test_an_observation_stays_aiocoaps(pair: Pair) -> None:
    watchers = [Client(), Client()]
    try:
        data = get("/brightness", 0x3201, observe=0)
        lean = await watchers[0].exchange(pair.port(pair.lean), data)
        plain = await watchers[1].exchange(pair.port(pair.plain), data)
        assert lean == plain and Message.decode(lean).opt.observe == 0
        pair.registry.update_state(pair.thing.id, "brightness", {"brightness": 77})
        notified = [Message.decode(await w.receive()) for w in watchers]
        assert all(cbor2.loads(n.payload) == {"brightness": 77} for n in notified)
        assert pair.answered == 0
    finally:
        for watcher in watchers:
            watcher.close()


async def test_a_changed_state_is_answered_at_once(pair: Pair, client: Client) -> None:
    port = pair.port(pair.lean)
    assert cbor2.loads(Message.decode(await client.exchange(port, get("/switch", 0x4001)))
                       .payload) == {"value": False}
    pair.registry.update_state(pair.thing.id, "switch", {"on": True})
    lean, plain = await pair.both(client, get("/switch", 0x4002))
    assert lean == plain and cbor2.loads(Message.decode(lean).payload) == {"value": True}
    pair.registry.set_available(pair.thing.id, False)
    lean, plain = await pair.both(client, get("/switch", 0x4003))
    assert lean == plain and Message.decode(lean).code == Code.SERVICE_UNAVAILABLE
    pair.registry.set_available(pair.thing.id, True)
    lean, plain = await pair.both(client, get("/switch", 0x4004))
    assert lean == plain and cbor2.loads(Message.decode(lean).payload) == {"value": True}
    assert pair.answered == 3  # the 5.03 was aiocoap's


async def test_a_method_result_is_seen_after_its_post(pair: Pair, client: Client) -> None:
    pulse = f"{WIDGET}.Pulse"
    lean, plain = await pair.both(client, get(pulse, 0x4101))
    assert lean == plain and cbor2.loads(Message.decode(lean).payload) == {}
    lean, plain = await pair.both(client, get(pulse, 0x4102, code=Code.POST,
                                              payload=cbor2.dumps({"Level": 5}),
                                              content_format=wire.CF_OCF_CBOR))
    assert lean == plain and Message.decode(lean).code == Code.CHANGED
    lean, plain = await pair.both(client, get(pulse, 0x4103))
    assert lean == plain and cbor2.loads(Message.decode(lean).payload) == {"Result": "did 5"}
    assert pair.answered == 2


async def test_a_repeated_con_gets_the_same_answer_and_a_repeated_non_none(
        pair: Pair, client: Client) -> None:
    port = pair.port(pair.lean)
    request = get("/switch", 0x5001)
    first = await client.exchange(port, request)
    pair.registry.update_state(pair.thing.id, "switch", {"on": True})
    # The retransmission is the same exchange: the answer it gets is the first one.
    assert await client.exchange(port, request) == first
    fresh = await client.exchange(port, get("/switch", 0x5002))
    assert cbor2.loads(Message.decode(fresh).payload) == {"value": True}
    non = get("/switch", 0x5003, mtype=NON, token=b"\x01")
    answered = await client.exchange(port, non)
    assert cbor2.loads(Message.decode(answered).payload) == {"value": True}
    # A repeated NON is not answered: the next answer is that of the request sent after it.
    await client.send(port, non)
    marker = get("/switch", 0x5004, token=b"\x02")
    assert Message.decode(await client.exchange(port, marker)).token == b"\x02"
    assert pair.answered == 6


class Clock:
    """A monotonic clock the test moves: the exchange lifetime is 247 s."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_repeat_is_a_duplicate_for_exactly_the_exchange_lifetime(
        pair: Pair, client: Client) -> None:
    lean = pair.lean.virtuals[pair.thing.id].endpoint.lean
    assert lean is not None
    clock = Clock()
    # The duplicate records' clock alone, of both paths (the request caps keep theirs: to
    # them a repeat is no new request either way).
    lean._clock = clock
    compiled = lean.compiled

    def at(now: float) -> None:
        clock.now = now
        if compiled is not None:
            compiled.set_now(now)

    at(1000.0)
    port = pair.port(pair.lean)

    def value(answer: bytes) -> Value:
        return cbor2.loads(Message.decode(answer).payload)["value"]  # type: ignore[no-any-return]

    first, second = get("/switch", 0x5101), get("/switch", 0x5102)
    answer_first = await client.exchange(port, first)
    at(1000.5)
    assert value(await client.exchange(port, second)) is False
    pair.registry.update_state(pair.thing.id, "switch", {"on": True})
    at(1000.0 + EXCHANGE_LIFETIME - 0.5)
    assert await client.exchange(port, first) == answer_first
    # At the end of its lifetime the record is swept: the same message id is a new request.
    at(1000.0 + EXCHANGE_LIFETIME)
    assert value(await client.exchange(port, first)) is True
    # The second's record has expired too, before the next sweep: a new request as well.
    at(1000.5 + EXCHANGE_LIFETIME)
    answer_again = await client.exchange(port, second)
    assert value(answer_again) is True
    # And what it got now is what its repeats get, past the next sweep.
    pair.registry.update_state(pair.thing.id, "switch", {"on": False})
    at(1002.0 + EXCHANGE_LIFETIME)
    assert await client.exchange(port, second) == answer_again
    assert pair.answered == 6


async def test_a_change_of_one_resource_keeps_the_others_answers_right(
        pair: Pair, client: Client) -> None:
    port = pair.port(pair.lean)
    plain_port = pair.port(pair.plain)
    requests = [get("/switch", 0x5201), get("/switch", 0x5202, query=["if=oic.if.baseline"]),
                get("/brightness", 0x5203)]
    for request in requests:
        await client.exchange(port, request)
    pair.registry.update_state(pair.thing.id, "switch", {"on": True})
    for mid, request in enumerate(requests, 0x5211):
        fresh = request[:2] + mid.to_bytes(2, "big") + request[4:]
        lean, plain = await client.exchange(port, fresh), await client.exchange(plain_port,
                                                                                fresh)
        assert lean == plain
        if request[4:] == requests[0][4:]:
            assert cbor2.loads(Message.decode(lean).payload) == {"value": True}
    assert pair.answered == 6


async def test_the_request_caps_apply_to_the_lean_path(
        registry: Registry, catalogue: Catalogue, client: Client) -> None:
    registry.register_handler(Side.ALLJOYN, RecordingOrigin())
    thing = registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))
    config = OcfConfig(max_requests_per_client=3, max_requests=100)
    virtual = side(registry, lean_get=True, limits=ClientLimits(config))
    await virtual.start()
    await virtual.wait_idle()
    try:
        endpoint = virtual.virtuals[thing.id].endpoint
        answers = [Message.decode(await client.exchange(endpoint.port, get("/switch", mid)))
                   for mid in (0x6001, 0x6002, 0x6003)]
        assert all(a.code == Code.CONTENT for a in answers)
        # A repeated request takes no room; one more does, and is refused as aiocoap's
        # path refuses it: 5.03 with Max-Age, counted once.
        again = Message.decode(await client.exchange(endpoint.port, get("/switch", 0x6003)))
        assert again.code == Code.CONTENT
        refused = Message.decode(await client.exchange(endpoint.port, get("/switch", 0x6004)))
        assert refused.code == Code.SERVICE_UNAVAILABLE and refused.opt.max_age
        assert virtual.limits.refused.requests == 1
        assert endpoint.lean is not None and endpoint.lean.answered == 4
    finally:
        await virtual.shutdown()


async def test_switched_off_aiocoap_answers_everything(pair: Pair, client: Client) -> None:
    endpoint = pair.plain.virtuals[pair.thing.id].endpoint
    assert endpoint.lean is None
    reply = Message.decode(await client.exchange(endpoint.port, get("/switch", 0x7001)))
    assert reply.code == Code.CONTENT
    assert not pair.plain.listener.lean and pair.answered == 0


class ReadingOrigin(RecordingOrigin):
    """An origin that cannot follow every change (AllJoyn with ``read_through = "all"``):
    each read is counted, and ``fresh`` says whether the last one is recent enough."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.is_fresh = False
        self.device_value = False

    def reads_through(self, thing: Thing, capability: str) -> bool:
        return capability == "switch"

    def fresh(self, thing: Thing, capability: str) -> bool:
        return self.is_fresh

    async def refresh(self, thing: Thing, capability: str) -> Mapping[str, Value]:
        self.reads += 1
        return {"on": self.device_value} if capability == "switch" else dict(
            thing.capabilities[capability].state)


async def test_a_read_through_capability_is_lean_only_while_its_last_read_is_fresh(
        registry: Registry, catalogue: Catalogue, client: Client) -> None:
    origin = ReadingOrigin()
    registry.register_handler(Side.ALLJOYN, origin)
    thing = registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))
    lean = side(registry, lean_get=True)
    await lean.start()
    await lean.wait_idle()
    try:
        endpoint = lean.virtuals[thing.id].endpoint
        assert endpoint.lean is not None
        port = endpoint.port

        async def value(mid: int) -> Any:
            return cbor2.loads(Message.decode(await client.exchange(port, get("/switch", mid)))
                               .payload)["value"]

        # Due: aiocoap's path answers and reads the device first.
        origin.device_value = True
        assert await value(0x7001) is True
        assert origin.reads == 1 and endpoint.lean.answered == 0
        # Read a moment ago: the lean path answers from its cache, the device is not asked.
        origin.is_fresh = True
        assert await value(0x7002) is True
        assert await value(0x7003) is True
        assert origin.reads == 1 and endpoint.lean.answered >= 1
        answered = endpoint.lean.answered
        # Due again (the producer may have changed it without a signal): read through,
        # even though a representation is cached.
        origin.is_fresh = False
        origin.device_value = False
        assert await value(0x7004) is False
        assert origin.reads == 2 and endpoint.lean.answered == answered
    finally:
        await lean.shutdown()


def queue_all(client: Client, port: int, datagrams: Sequence[bytes]) -> None:
    """Send every datagram without letting the event loop run: all of them wait on the
    server's socket before its reader is called once."""
    for data in datagrams:
        client.sock.sendto(data, (client.host, port))


async def answers_in_order(client: Client, count: int) -> list[Message]:
    return [Message.decode(await client.receive()) for _ in range(count)]


async def test_datagrams_queued_before_the_loop_runs_are_all_answered_in_order(
        pair: Pair, client: Client) -> None:
    # More datagrams than one batch (lean_path.BATCH): the rest are read at the next turns
    # of the event loop.
    count = 3 * BATCH + 5
    tokens = [i.to_bytes(2, "big") for i in range(count)]
    queue_all(client, pair.port(pair.lean),
              [get("/switch", 0x8000 + i, token=token) for i, token in enumerate(tokens)])
    answers = await answers_in_order(client, count)
    assert [a.token for a in answers] == tokens
    assert all(a.code == Code.CONTENT and a.mid == 0x8000 + i for i, a in enumerate(answers))
    assert all(cbor2.loads(a.payload) == {"value": False} for a in answers)
    assert pair.answered == count


async def test_queued_datagrams_for_aiocoap_among_lean_ones_all_reach_it_in_order(
        pair: Pair, client: Client) -> None:
    # (who answers, path, options, the answer's code)
    kinds: list[tuple[str, str, dict[str, Any], Code]] = [
        ("lean", "/switch", {}, Code.CONTENT),
        ("aiocoap", "/nothing/here", {}, Code.NOT_FOUND),
        ("lean", "/brightness", {}, Code.CONTENT),
        ("aiocoap", "/switch", {"accept": wire.CF_CBOR}, Code.NOT_ACCEPTABLE),
        ("aiocoap", "/switch", {"query": ["rt=oic.r.switch.binary"]}, Code.CONTENT)]
    sent = [(kinds[i % len(kinds)], i.to_bytes(2, "big")) for i in range(2 * BATCH)]
    queue_all(client, pair.port(pair.lean),
              [get(path, 0x9000 + i, token=token, **options)
               for i, ((_, path, options, _), token) in enumerate(sent)])
    answers = await answers_in_order(client, len(sent))
    code_of = {token: code for (_, _, _, code), token in sent}
    assert sorted(a.token for a in answers) == sorted(code_of)
    assert all(a.code == code_of[a.token] for a in answers)
    # Each path answers in the order the datagrams came: the lean path at once, aiocoap in
    # the order they were handed to it.
    for who in ("lean", "aiocoap"):
        mine = [token for (kind, _, _, _), token in sent if kind == who]
        assert [a.token for a in answers if a.token in mine] == mine
    assert pair.answered == sum(kind == "lean" for (kind, _, _, _), _ in sent)


async def test_an_icmp_error_on_the_lean_paths_socket_ends_that_peers_exchange_in_aiocoap(
        pair: Pair, client: Client) -> None:
    # The lean path reads the socket itself (its own reader in place of aiocoap's
    # transport's): the port unreachable error for a request the endpoint's aiocoap context
    # sends to a closed port must still reach aiocoap, which fails that request at once
    # instead of sending it again for the exchange's whole lifetime.
    endpoint = pair.lean.virtuals[pair.thing.id].endpoint
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as closing:
        closing.bind(("::1", 0))
        closed = closing.getsockname()[1]
    request = Message(code=Code.GET, uri=f"coap://[::1]:{closed}/nothing")
    async with asyncio.timeout(ANSWER_WAIT):
        with pytest.raises(Exception) as failed:
            await endpoint._context.request(request).response
    chain: list[BaseException] = []
    error: BaseException | None = failed.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, OSError) and e.errno == errno.ECONNREFUSED for e in chain), chain
    # The lean path still answers after reading the error queue.
    answered = pair.answered
    reply = Message.decode(await client.exchange(pair.port(pair.lean), get("/switch", 0x4321)))
    assert reply.code == Code.CONTENT and pair.answered == answered + 1
