"""Notifications to observers go non-confirmable, but for one confirmable in N.

A raw UDP client on ``::1`` observes a resource of a real :class:`CoapEndpoint` that counts
against the gateway's caps (``ClientLimits`` of an ``OcfConfig``), so the test decides which
answers go back: it sees each notification's type, answers with an RST, or disappears
(reads nothing, answers nothing, keeps its port open). The endpoint's own counters show
that nothing of an ended observation stays behind.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import cbor2
import pytest
from aiocoap import ACK, CON, EMPTY, GET, NON, RST, Message, TransportTuning

from bridge.ocf import observers, wire
from bridge.ocf.coap_messages import EncodedReply, message_of, representation_option_list
from bridge.ocf.coap_server import CoapEndpoint
from bridge.ocf.config import OcfConfig
from bridge.ocf.limits import ClientLimits
from bridge.ocf.notify_frames import NotificationFrame
from bridge.ocf.served import ServedDevice, ServedResource

#: Run on asyncio's loop and on uvloop's (tests/ocf/conftest.py).
BOTH_LOOPS = True

HREF = "/counter"
EVERY = OcfConfig().notify_confirmable_every


class Counter:
    def __init__(self) -> None:
        self.value = 0
        self.device = ServedDevice(
            di="6f1c1a2e-0000-4000-8000-000000000011", device_types=("oic.wk.d", "oic.d.sensor"),
            device={"n": "Counter"}, platform={"pi": "6f1c1a2e-0000-4000-8000-000000000012",
                                               "mnmn": "test"},
            resources={HREF: ServedResource(HREF, ("x.test.counter",),
                                            ("oic.if.r", "oic.if.baseline"), True,
                                            lambda: {"value": self.value})})

    def change(self, endpoint: CoapEndpoint, value: int) -> None:
        self.value = value
        endpoint.notify(HREF)


async def _endpoint(**settings: object) -> tuple[Counter, CoapEndpoint]:
    counter = Counter()
    limits = ClientLimits(OcfConfig(**settings))  # type: ignore[arg-type]
    endpoint = CoapEndpoint(counter.device, bind_host="::1", limits=limits, queue_limit=64)
    await endpoint.start()
    return counter, endpoint


@pytest.fixture(autouse=True)
def no_tail_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests below count each notification's type: a pause of the test itself on a
    loaded machine must not add the confirmation of a burst's last state (tested alone)."""
    monkeypatch.setattr(observers, "TAIL_CONFIRM", 3600.0)


@pytest.fixture
async def served() -> AsyncIterator[tuple[Counter, CoapEndpoint]]:
    counter, endpoint = await _endpoint()
    try:
        yield counter, endpoint
    finally:
        await endpoint.shutdown()


class RawObserver:
    """A CoAP client on a bare socket: it answers (or not) as the test says."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect(("::1", port))
        self.acknowledge = True
        self.seen: list[Message] = []

    async def send(self, message: Message) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, message.encode())

    async def receive(self) -> Message:
        """The next message not seen before (a retransmission is acknowledged again)."""
        loop = asyncio.get_running_loop()
        while True:
            message = Message.decode(await loop.sock_recv(self.sock, 4096))
            if message.mtype == CON and self.acknowledge:
                ack = Message(code=EMPTY)
                ack.mtype, ack.mid = ACK, message.mid
                await self.send(ack)
            if all(m.mid != message.mid for m in self.seen):
                self.seen.append(message)
                return message

    async def register(self, mtype: object = CON) -> Message:
        request = Message(code=GET, uri_path=(HREF.strip("/"),), observe=0)
        request.mtype, request.mid, request.token = mtype, 1, b"obs1"
        await self.send(request)
        return await self.receive()

    async def reset(self, message: Message) -> None:
        rst = Message(code=EMPTY)
        rst.mtype, rst.mid = RST, message.mid
        await self.send(rst)

    async def plain_get(self) -> Message:
        request = Message(code=GET, uri_path=(HREF.strip("/"),))
        request.mtype, request.mid, request.token = CON, 9000, b"get1"
        await self.send(request)
        return await self.receive()


async def until(predicate: Callable[[], bool], within: float = 30.0) -> None:
    """Wait for ``predicate`` (``within`` only guards against a hang)."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 (the counters have no event)
            await asyncio.sleep(0.01)


def _nothing_held(endpoint: CoapEndpoint) -> bool:
    return (endpoint.observer_count == 0 and endpoint.notifications_queued == 0
            and endpoint.answers.waiting == 0 and endpoint.answers.watched == 0
            and endpoint.limits.observers.total == 0)


async def test_a_con_observer_gets_non_notifications_but_one_con_in_every(
        served: tuple[Counter, CoapEndpoint]) -> None:
    counter, endpoint = served
    observer = RawObserver(endpoint.port)
    try:
        first = await observer.register(CON)
        assert first.mtype == ACK and first.opt.observe == 0
        got = []
        for value in range(1, 3 * EVERY + 1):
            counter.change(endpoint, value)
            got.append(await observer.receive())
    finally:
        observer.sock.close()
    types = [m.mtype for m in got]
    assert types == [CON if n % EVERY == 0 else NON for n in range(1, 3 * EVERY + 1)]
    # The OCF wire rules hold for each type: 2.05, OCF CBOR, rising sequence numbers.
    assert [cbor2.loads(m.payload)["value"] for m in got] == list(range(1, 3 * EVERY + 1))
    assert all(m.code.dotted == "2.05" and m.opt.content_format == wire.CF_OCF_CBOR
               and m.token == b"obs1" for m in got)
    assert all(int.from_bytes(m.opt.get_option(wire.OPT_CONTENT_VERSION)[0].encode(), "big")
               == wire.OCF_1_0 for m in got)
    numbers = [m.opt.observe for m in got]
    assert numbers == sorted(set(numbers)) and numbers[0] > 0


@pytest.mark.parametrize("observe", [0, 1, 255, 256, 70_000, (1 << 24) - 1])
@pytest.mark.parametrize("token", [b"", b"t", b"12345678"])
def test_a_framed_notification_is_the_datagram_aiocoap_encodes(observe: int,
                                                               token: bytes) -> None:
    payload = cbor2.dumps({"value": 21.5})
    framed = NotificationFrame(representation_option_list()).frame(0xBEEF, token, observe,
                                                                  payload)
    reference = message_of(EncodedReply(205, payload, True))
    reference.mtype, reference.mid, reference.token = NON, 0xBEEF, token
    reference.opt.observe = observe
    assert framed == reference.encode()


@pytest.mark.parametrize(("every", "registration", "expected"), [
    (1, NON, CON),  # every notification confirmable, whatever the registration
    (0, CON, CON),  # the registration's type, as before the setting
    (0, NON, NON),
])
async def test_the_setting_gives_back_all_con_or_the_registrations_type(
        every: int, registration: object, expected: object) -> None:
    counter, endpoint = await _endpoint(notify_confirmable_every=every)
    observer = RawObserver(endpoint.port)
    try:
        await observer.register(registration)
        got = []
        for value in range(1, EVERY + 2):
            counter.change(endpoint, value)
            got.append(await observer.receive())
    finally:
        observer.sock.close()
        await endpoint.shutdown()
    assert [m.mtype for m in got] == [expected] * (EVERY + 1)
    assert [cbor2.loads(m.payload)["value"] for m in got] == list(range(1, EVERY + 2))


@pytest.mark.parametrize("registration", [CON, NON])
async def test_an_rst_to_a_non_notification_ends_the_observation(
        served: tuple[Counter, CoapEndpoint], registration: object) -> None:
    counter, endpoint = served
    observer = RawObserver(endpoint.port)
    try:
        await observer.register(registration)
        counter.change(endpoint, 1)
        notification = await observer.receive()
        assert notification.mtype == NON
        await observer.reset(notification)
        await until(lambda: _nothing_held(endpoint))
        counter.change(endpoint, 2)
        # Were the observation alive, its notification of 2 would come before this answer.
        answer = await observer.plain_get()
    finally:
        observer.sock.close()
    assert answer.token == b"get1" and cbor2.loads(answer.payload) == {"value": 2}
    assert endpoint.answers.resets == 1


async def test_an_rst_from_another_client_ends_nothing(
        served: tuple[Counter, CoapEndpoint]) -> None:
    counter, endpoint = served
    observer, stranger = RawObserver(endpoint.port), RawObserver(endpoint.port)
    try:
        await observer.register(CON)
        counter.change(endpoint, 1)
        notification = await observer.receive()
        await stranger.reset(notification)  # same message id, another port
        # The stranger's RST is read before this request, so its effect is known after.
        assert cbor2.loads((await stranger.plain_get()).payload) == {"value": 1}
        counter.change(endpoint, 2)
        assert cbor2.loads((await observer.receive()).payload) == {"value": 2}
    finally:
        observer.sock.close()
        stranger.sock.close()
    assert endpoint.observer_count == 1 and endpoint.answers.resets == 0


async def test_a_client_that_disappears_is_dropped_when_the_con_times_out(
        served: tuple[Counter, CoapEndpoint], monkeypatch: pytest.MonkeyPatch) -> None:
    class Quick(TransportTuning):
        ACK_TIMEOUT = 0.05
        MAX_RETRANSMIT = 2

    monkeypatch.setattr(observers, "CONFIRMABLE_TUNING", Quick())
    counter, endpoint = served
    observer = RawObserver(endpoint.port)
    try:
        await observer.register(CON)
        observer.acknowledge = False  # gone: it answers nothing from now on
        produced = 4 * EVERY
        for value in range(1, produced + 1):
            counter.change(endpoint, value)
        await until(lambda: _nothing_held(endpoint))
        received = []
        while True:
            try:
                received.append(Message.decode(observer.sock.recv(4096)))
            except BlockingIOError:
                break
    finally:
        observer.sock.close()
    # Sent: the unanswered CON (and its retransmissions) and the NONs up to the next CON.
    distinct = {m.mid: m for m in received}
    assert [m.mtype for m in distinct.values()].count(CON) == 1
    assert len(distinct) == 2 * EVERY - 1
    assert len(received) == len(distinct) + Quick.MAX_RETRANSMIT


async def test_a_client_whose_port_closes_is_dropped_on_a_non_notification(
        served: tuple[Counter, CoapEndpoint]) -> None:
    counter, endpoint = served
    observer, other = RawObserver(endpoint.port), RawObserver(endpoint.port)
    await observer.register(CON)
    await other.register(CON)
    observer.sock.close()  # the kernel answers the next datagram with ICMP port unreachable
    try:
        for value in range(1, 4):
            counter.change(endpoint, value)
            # The other client's observation goes on, in order.
            assert cbor2.loads((await other.receive()).payload) == {"value": value}
        await until(lambda: endpoint.observer_count == 1)
    finally:
        other.sock.close()
    assert endpoint.limits.observers.total == 1 and endpoint.answers.watched == 1


async def test_the_last_state_arrives_after_a_slow_acknowledgement(
        served: tuple[Counter, CoapEndpoint]) -> None:
    counter, endpoint = served
    observer = RawObserver(endpoint.port)
    produced = 500
    try:
        await observer.register(CON)
        observer.acknowledge = False
        for value in range(1, produced + 1):
            counter.change(endpoint, value)
            if value % 20 == 0:
                await asyncio.sleep(0)  # the queue sends what it may meanwhile
        await until(lambda: endpoint.notifications_queued > 0
                    and endpoint.answers.waiting == 1)
        observer.acknowledge = True  # the CON's retransmission is acknowledged now
        values: list[int] = []
        async with asyncio.timeout(30):  # guards against a hang only
            while not values or values[-1] != produced:
                values.append(cbor2.loads((await observer.receive()).payload)["value"])
    finally:
        observer.sock.close()
    assert values == sorted(set(values)), "notifications arrive in order, each once"
    assert len(values) + endpoint.notifications_dropped == produced
    assert endpoint.notifications_dropped > 0 and endpoint.observer_count == 1


@pytest.fixture
async def tail_soon(served: tuple[Counter, CoapEndpoint], monkeypatch: pytest.MonkeyPatch
                    ) -> AsyncIterator[tuple[Counter, CoapEndpoint, RawObserver]]:
    """A registered CON observer, with a burst's last state confirmed after 0.2 s."""
    monkeypatch.setattr(observers, "TAIL_CONFIRM", 0.2)
    counter, endpoint = served
    observer = RawObserver(endpoint.port)
    try:
        await observer.register(CON)
        yield counter, endpoint, observer
    finally:
        observer.sock.close()


async def test_a_burst_that_ends_non_is_confirmed_by_its_last_state(
        tail_soon: tuple[Counter, CoapEndpoint, RawObserver]) -> None:
    counter, endpoint, observer = tail_soon
    for value in (1, 2, 3):
        counter.change(endpoint, value)
    burst = [await observer.receive() for _ in range(3)]
    # Say the last of them was lost on the way: the confirmation still brings its state.
    confirmation = await observer.receive()
    assert [m.mtype for m in burst] == [NON, NON, NON]
    assert confirmation.mtype == CON
    assert cbor2.loads(confirmation.payload) == {"value": 3}
    assert confirmation.opt.observe > burst[-1].opt.observe
    # Acknowledged, it is the last: nothing else follows while nothing changes.
    await until(lambda: endpoint.answers.waiting == 0)
    assert endpoint.notifications_queued == 0


async def test_a_burst_that_ends_con_gets_no_confirmation(
        tail_soon: tuple[Counter, CoapEndpoint, RawObserver]) -> None:
    counter, endpoint, observer = tail_soon
    for value in range(1, EVERY + 1):
        counter.change(endpoint, value)
        await observer.receive()
    assert observer.seen[-1].mtype == CON
    # Something else, later, is still the next notification: no extra one came between.
    await asyncio.sleep(0.6)  # three times TAIL_CONFIRM: a confirmation would be out
    counter.change(endpoint, 100)
    after = await observer.receive()
    assert cbor2.loads(after.payload) == {"value": 100}


def _waiting_datagrams(sock: socket.socket) -> list[Message]:
    """What the client's socket holds now, read without yielding to the event loop."""
    found = []
    while True:
        try:
            found.append(Message.decode(sock.recv(4096)))
        except BlockingIOError:
            return found


async def test_a_non_notification_leaves_in_the_call_that_changed_the_state(
        served: tuple[Counter, CoapEndpoint]) -> None:
    counter, endpoint = served
    observer = RawObserver(endpoint.port)
    try:
        await observer.register(CON)
        for value in range(1, EVERY):
            counter.change(endpoint, value)
            # Nothing queued for the observation's task: the datagram is already out.
            assert endpoint.notifications_queued == 0
            got = _waiting_datagrams(observer.sock)
            assert [(m.mtype, cbor2.loads(m.payload)) for m in got] == [(NON, {"value": value})]
    finally:
        observer.sock.close()


async def test_a_burst_keeps_its_order_behind_a_due_con_and_loses_nothing(
        served: tuple[Counter, CoapEndpoint]) -> None:
    counter, endpoint = served
    observer = RawObserver(endpoint.port)
    produced = 3 * EVERY
    try:
        await observer.register(CON)
        # One burst with no turn of the event loop: the first EVERY - 1 leave at once, the
        # due CON and everything after it wait for the observation's task, in order.
        for value in range(1, produced + 1):
            counter.change(endpoint, value)
        assert endpoint.notifications_queued == produced - (EVERY - 1)
        got = []
        async with asyncio.timeout(30):  # guards against a hang only
            while len(got) < produced:
                got.append(await observer.receive())
        await until(lambda: endpoint.answers.waiting == 0)
    finally:
        observer.sock.close()
    assert [cbor2.loads(m.payload)["value"] for m in got] == list(range(1, produced + 1))
    assert [m.mtype for m in got] == [CON if n % EVERY == 0 else NON
                                      for n in range(1, produced + 1)]
    numbers = [m.opt.observe for m in got]
    assert numbers == sorted(set(numbers))
    # Every CON was acknowledged (the client ACKs each) and the queue drained.
    assert endpoint.notifications_queued == 0 and endpoint.notifications_dropped == 0


async def test_a_due_con_still_waits_for_its_ack_after_direct_sends(
        served: tuple[Counter, CoapEndpoint]) -> None:
    counter, endpoint = served
    observer = RawObserver(endpoint.port)
    try:
        await observer.register(CON)
        observer.acknowledge = False
        for value in range(1, EVERY + 1):
            counter.change(endpoint, value)
        got = [await observer.receive() for _ in range(EVERY)]
        assert got[-1].mtype == CON and endpoint.answers.waiting == 1
        # While that CON is unanswered, the next EVERY - 1 go NON, the next due CON holds.
        for value in range(EVERY + 1, 2 * EVERY + 1):
            counter.change(endpoint, value)
        got += [await observer.receive() for _ in range(EVERY - 1)]
        await until(lambda: endpoint.notifications_queued == 1)
        observer.acknowledge = True  # the retransmission of the first CON is acknowledged
        async with asyncio.timeout(120):  # the retransmission comes within about 3 s
            while len(got) < 2 * EVERY:
                got.append(await observer.receive())
        await until(lambda: endpoint.answers.waiting == 0)
    finally:
        observer.sock.close()
    assert [cbor2.loads(m.payload)["value"] for m in got] == list(range(1, 2 * EVERY + 1))
    assert [m.mtype for m in got].count(CON) == 2
