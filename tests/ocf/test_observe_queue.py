"""Observers that fall behind: bounded queues, counted drops, the newest state always last.

A raw UDP client registers a CON observation on a real :class:`CoapEndpoint` and withholds
its ACKs while the state changes many times, as a dead or slow observer would: the server
must hold no more than its queue limit, count what it dropped, and, once the client answers
again, deliver the rest in order ending with the newest state.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import cbor2
import pytest
from aiocoap import ACK, CON, EMPTY, GET, Message

from bridge.ocf.coap_server import CoapEndpoint
from bridge.ocf.observers import IN_FLIGHT
from bridge.ocf.served import ServedDevice, ServedResource

LIMIT = 10
HREF = "/counter"


class Counter:
    def __init__(self) -> None:
        self.value = 0
        self.device = ServedDevice(
            di="6f1c1a2e-0000-4000-8000-000000000001", device_types=("oic.wk.d", "oic.d.sensor"),
            device={"n": "Counter"}, platform={"pi": "6f1c1a2e-0000-4000-8000-000000000002",
                                               "mnmn": "test"},
            resources={HREF: ServedResource(HREF, ("x.test.counter",),
                                            ("oic.if.r", "oic.if.baseline"), True,
                                            lambda: {"value": self.value})})


@pytest.fixture
async def served() -> AsyncIterator[tuple[Counter, CoapEndpoint]]:
    counter = Counter()
    endpoint = CoapEndpoint(counter.device, bind_host="::1", queue_limit=LIMIT)
    await endpoint.start()
    try:
        yield counter, endpoint
    finally:
        await endpoint.shutdown()


class RawObserver:
    """A CoAP client on a bare socket, so that the test decides when ACKs go out."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect(("::1", port))
        self.seen_mids: set[int] = set()

    async def receive(self) -> Message:
        """The next new message; CON ones are ACKed, retransmissions skipped."""
        loop = asyncio.get_running_loop()
        while True:
            message = Message.decode(await loop.sock_recv(self.sock, 4096))
            if message.mtype == CON:
                ack = Message(code=EMPTY)
                ack.mtype, ack.mid = ACK, message.mid
                await loop.sock_sendall(self.sock, ack.encode())
            if message.mid not in self.seen_mids:
                self.seen_mids.add(message.mid)
                return message

    async def register(self) -> Message:
        request = Message(code=GET, uri_path=(HREF.strip("/"),), observe=0)
        request.mtype, request.mid, request.token = CON, 1, b"obs1"
        await asyncio.get_running_loop().sock_sendall(self.sock, request.encode())
        return await self.receive()


async def test_a_stalled_observer_holds_a_bounded_queue_and_gets_the_newest_state_last(
        served: tuple[Counter, CoapEndpoint], caplog: pytest.LogCaptureFixture) -> None:
    counter, endpoint = served
    observer = RawObserver(endpoint.port)
    try:
        first = await observer.register()
        assert first.opt.observe == 0 and cbor2.loads(first.payload) == {"value": 0}
        produced = 300
        for value in range(1, produced + 1):
            counter.value = value
            endpoint.notify(HREF)
            if value % 10 == 0:
                # The observer reads nothing meanwhile: the first CON stays unacknowledged.
                await asyncio.sleep(0)
            assert endpoint.notifications_queued <= LIMIT
        values: list[int] = []
        async with asyncio.timeout(30):  # guards against a hang only
            while not values or values[-1] != produced:
                notification = await observer.receive()
                assert notification.token == b"obs1"
                values.append(cbor2.loads(notification.payload)["value"])
    finally:
        observer.sock.close()
    assert values == sorted(set(values)), "notifications arrive in order, each once"
    # every state change was either delivered or counted as dropped
    assert len(values) + endpoint.notifications_dropped == produced
    assert endpoint.notifications_dropped > 0
    # at most: the unacknowledged CON, aiocoap's backlog, and the queue
    assert len(values) <= 1 + IN_FLIGHT + LIMIT
    assert any("does not keep up" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)


async def test_an_error_notification_is_the_last_one(
        served: tuple[Counter, CoapEndpoint]) -> None:
    counter, endpoint = served
    observer = RawObserver(endpoint.port)
    try:
        await observer.register()
        counter.value = 1
        endpoint.notify(HREF)
        counter.device.available = False
        endpoint.notify(HREF)
        counter.value = 2
        endpoint.notify(HREF)  # after the 5.03: the observation has ended
        got = [await observer.receive(), await observer.receive()]
    finally:
        observer.sock.close()
    assert cbor2.loads(got[0].payload) == {"value": 1}
    assert got[1].code.dotted == "5.03" and got[1].opt.observe is None
    assert endpoint.observer_count == 0
