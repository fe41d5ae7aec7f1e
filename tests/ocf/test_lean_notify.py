"""The OCF client's lean receive path for notifications (``bridge.ocf.lean_notify``).

A hand-driven device on a real UDP socket on ``::1`` answers the gateway client's
registration and then sends notifications datagram by datagram, so each test decides the
message ids, Observe numbers, types and options, and sees every datagram the client sends
back (empty ACKs, RSTs, the deregistration). Plain notifications are taken by the lean path
(its counters say so); everything else must reach aiocoap as before.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import cbor2
import pytest
from aiocoap import ACK, CON, EMPTY, NON, RST, Message
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption

from bridge.ocf import wire
from bridge.ocf.coap_client import Observation, OcfClient
from bridge.ocf.config import OcfConfig
from bridge.ocf.lean_notify import OBSERVE_RESET, Followed
from bridge.ocf.links import Endpoint
from bridge.ocf.notice_frames import parse_notice

HREF = "/temperature"


class HandDevice:
    """One UDP socket on ``::1`` that reads what the client sends and answers by hand."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.bind(("::1", 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])
        self.remote: Any = None
        self.token = b""

    async def receive(self) -> Message:
        data, self.remote = await asyncio.get_running_loop().sock_recvfrom(self.sock, 65536)
        return Message.decode(data)

    async def send(self, message: Message) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, message.encode(), self.remote)

    def notification(self, mtype: Any, mid: int, number: int | None, value: float, *,
                     code: Code = Code.CONTENT) -> Message:
        message = Message(code=code, mtype=mtype, mid=mid,
                          payload=cbor2.dumps({"temperature": value}))
        message.token = self.token
        if number is not None:
            message.opt.observe = number
        message.opt.content_format = wire.CF_OCF_CBOR
        return message


@dataclass
class Observed:
    device: HandDevice
    client: OcfClient
    observation: Observation
    values: asyncio.Queue[Any]
    ended: list[str] = field(default_factory=list)

    async def next_value(self) -> float:
        async with asyncio.timeout(10):
            value = await self.values.get()
        return float(value["temperature"])

    async def sent_back(self) -> Message:
        async with asyncio.timeout(10):
            return await self.device.receive()


@pytest.fixture
async def observed() -> AsyncIterator[Observed]:
    """An established observation of the hand device (first answer: Observe 1, 20.0)."""
    device = HandDevice()
    client = OcfClient(5.0, 16384, observe_confirmable=OcfConfig().observe_confirmable)
    await client.start()
    values: asyncio.Queue[Any] = asyncio.Queue()
    ended: list[str] = []
    observation = client.observe(Endpoint("coap", "::1", device.port), HREF,
                                 values.put_nowait, ended.append)
    here = Observed(device, client, observation, values, ended)
    try:
        request = await here.sent_back()
        assert (request.code, request.mtype, request.opt.observe) == (Code.GET, NON, 0)
        device.token = bytes(request.token)
        await device.send(device.notification(NON, 100, 1, 20.0))
        assert await here.next_value() == 20.0
        # The client follows it in the same step as it hands on the first answer.
        assert observation.followed is not None
        yield here
    finally:
        if observation.task is not None:
            observation.task.cancel()
        await client.shutdown()
        device.sock.close()


async def test_a_confirmable_notification_is_acknowledged_with_an_empty_ack(
        observed: Observed) -> None:
    await observed.device.send(observed.device.notification(CON, 101, 2, 21.0))
    ack = await observed.sent_back()
    assert (ack.mtype, ack.code, ack.mid, ack.token) == (ACK, EMPTY, 101, b"")
    assert await observed.next_value() == 21.0
    assert observed.client.lean.taken == 1


async def test_a_repeated_message_id_is_acknowledged_again_and_taken_once(
        observed: Observed) -> None:
    device = observed.device
    await device.send(device.notification(CON, 101, 2, 21.0))
    assert (await observed.sent_back()).mid == 101
    assert await observed.next_value() == 21.0
    # The same message id from the same source within the exchange lifetime is a duplicate
    # (RFC 7252 section 4.5), whatever it carries: acknowledged, not processed again.
    await device.send(device.notification(CON, 101, 3, 99.0))
    again = await observed.sent_back()
    assert (again.mtype, again.code, again.mid) == (ACK, EMPTY, 101)
    await device.send(device.notification(NON, 101, 4, 98.0))
    await device.send(device.notification(NON, 102, 5, 22.0))
    assert await observed.next_value() == 22.0
    assert observed.values.empty()
    assert (observed.client.lean.taken, observed.client.lean.repeated) == (2, 2)


async def test_a_reordered_notification_is_dropped(observed: Observed) -> None:
    device = observed.device
    await device.send(device.notification(NON, 101, 10, 21.0))
    assert await observed.next_value() == 21.0
    await device.send(device.notification(NON, 102, 9, 20.5))
    await device.send(device.notification(CON, 103, 8, 20.4))
    # A stale CON is still acknowledged, so that the device stops sending it.
    ack = await observed.sent_back()
    assert (ack.mtype, ack.code, ack.mid) == (ACK, EMPTY, 103)
    await device.send(device.notification(NON, 104, 11, 23.0))
    assert await observed.next_value() == 23.0
    assert observed.values.empty()
    assert observed.client.lean.reordered == 2


async def test_a_block2_notification_goes_to_aiocoap_in_the_same_order(
        observed: Observed) -> None:
    device = observed.device
    await device.send(device.notification(NON, 101, 5, 21.0))
    assert await observed.next_value() == 21.0
    block = device.notification(CON, 102, 6, 22.0)
    block.opt.block2 = BlockOption.BlockwiseTuple(0, False, 6)
    await device.send(block)
    ack = await observed.sent_back()  # aiocoap's own acknowledgement
    assert (ack.mtype, ack.code, ack.mid) == (ACK, EMPTY, 102)
    assert await observed.next_value() == 22.0
    # Older than the one the lean path took: aiocoap passes it on, the client drops it.
    stale = device.notification(CON, 103, 4, 19.0)
    stale.opt.block2 = BlockOption.BlockwiseTuple(0, False, 6)
    await device.send(stale)
    assert (await observed.sent_back()).mid == 103
    await device.send(device.notification(NON, 104, 7, 23.0))
    assert await observed.next_value() == 23.0
    assert observed.values.empty()
    assert observed.client.lean.taken == 2


async def test_an_error_notification_ends_the_observation_through_aiocoap(
        observed: Observed) -> None:
    device = observed.device
    error = Message(code=Code.NOT_FOUND, mtype=CON, mid=101, payload=b"gone")
    error.token = device.token
    await device.send(error)
    assert (await observed.sent_back()).mid == 101
    async with asyncio.timeout(10):
        assert observed.observation.task is not None
        await observed.observation.task
    assert observed.ended and observed.observation.followed is None
    # Its token is aiocoap's to refuse now: a CON notification on it gets an RST.
    await device.send(device.notification(CON, 102, 2, 21.0))
    rst = await observed.sent_back()
    assert (rst.mtype, rst.mid) == (RST, 102)
    assert observed.client.lean.taken == 0


async def test_after_deregistration_notifications_are_aiocoaps(observed: Observed) -> None:
    device = observed.device
    stop = asyncio.ensure_future(observed.client.deregister(observed.observation))
    cancel = await observed.sent_back()
    assert cancel.opt.observe == 1 and bytes(cancel.token) == device.token
    answer = device.notification(ACK if cancel.mtype == CON else NON, cancel.mid, None, 20.0)
    await device.send(answer)
    async with asyncio.timeout(10):
        await stop
    await device.send(device.notification(CON, 102, 2, 21.0))
    rst = await observed.sent_back()
    assert (rst.mtype, rst.mid) == (RST, 102)
    assert observed.values.empty() and observed.client.lean.taken == 0


async def test_a_notification_of_an_unknown_token_goes_to_aiocoap(observed: Observed) -> None:
    device = observed.device
    stranger = device.notification(CON, 101, 2, 21.0)
    stranger.token = b"\x01\x02\x03\x04"
    await device.send(stranger)
    rst = await observed.sent_back()
    assert (rst.mtype, rst.mid) == (RST, 101)
    assert observed.values.empty() and observed.client.lean.taken == 0


def _datagram(message: Message) -> bytes:
    return bytes(message.encode())


def test_only_plain_notifications_are_lean() -> None:
    def plain(**change: Any) -> Message:
        message = Message(code=change.get("code", Code.CONTENT), mtype=change.get("mtype", NON),
                          mid=7, payload=change.get("payload", b"\xa0"))
        message.token = b"\x0a\x0b"
        if change.get("observe", 3) is not None:
            message.opt.observe = change.get("observe", 3)
        if change.get("cf", wire.CF_OCF_CBOR) is not None:
            message.opt.content_format = change.get("cf", wire.CF_OCF_CBOR)
        return message

    notice = parse_notice(_datagram(plain()))
    assert notice is not None
    assert (notice.mtype, notice.mid, notice.token, notice.observe, notice.payload) == (
        NON, 7, b"\x0a\x0b", 3, b"\xa0")
    with_max_age = plain()
    with_max_age.opt.max_age = 60
    assert parse_notice(_datagram(with_max_age)) is not None
    assert parse_notice(_datagram(plain(observe=None))) is None
    assert parse_notice(_datagram(plain(cf=wire.CF_CBOR))) is None
    assert parse_notice(_datagram(plain(cf=None))) is None
    assert parse_notice(_datagram(plain(code=Code.NOT_FOUND))) is None
    assert parse_notice(_datagram(plain(mtype=ACK))) is None
    assert parse_notice(_datagram(plain(payload=b""))) is None
    block = plain()
    block.opt.block2 = BlockOption.BlockwiseTuple(0, True, 6)
    assert parse_notice(_datagram(block)) is None
    assert parse_notice(_datagram(plain())[:-2]) is None  # cut inside the payload's options
    assert parse_notice(b"\x40") is None


def test_the_observe_order_of_rfc_7641() -> None:
    followed = Followed((b"", "::1", 1), lambda value: None, 5, 0.0, HREF)
    assert not followed.fresh(5, 1.0) and not followed.fresh(4, 1.0)
    assert followed.fresh(6, 1.0)
    assert followed.fresh(5 + (1 << 23) - 1, 1.0) and not followed.fresh(5 + (1 << 23), 1.0)
    # Wrapped around the 24-bit space.
    assert Followed((b"", "::1", 1), lambda v: None, (1 << 24) - 2, 0.0, HREF).fresh(1, 1.0)
    # After 128 s without a fresher one, any number is taken.
    assert followed.fresh(4, OBSERVE_RESET + 0.5)
    assert followed.accept(7, 2.0) and (followed.observe, followed.since) == (7, 2.0)
    assert not followed.accept(6, 3.0) and followed.observe == 7
