"""The type of the gateway's observation registrations (``ocf.observe_confirmable``).

A hand-driven device on a real UDP socket answers the registration in the request's type, as
aiocoap's servers do, and then notifies: by default the registration is NON, so are the
notifications, and the gateway sends nothing back for them (no empty ACK per notification);
with ``observe_confirmable`` the registration is CON and a CON notification is acknowledged.
A CON notification is acknowledged in both cases (a device may choose CON now and then).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import cbor2
from aiocoap import ACK, CON, EMPTY, NON, Message
from aiocoap.numbers.codes import Code

from bridge.ocf import wire
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.config import OcfConfig
from bridge.ocf.links import Endpoint


class HandDevice:
    """One UDP socket on ``::1`` that reads what the gateway sends and answers by hand."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.sock.bind(("::1", 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])
        self._mid = 100

    def close(self) -> None:
        self.sock.close()

    async def receive(self) -> tuple[Message, Any]:
        data, remote = await asyncio.get_running_loop().sock_recvfrom(self.sock, 65536)
        return Message.decode(data), remote

    async def send(self, message: Message, remote: Any) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, message.encode(), remote)

    def notification(self, request: Message, mtype: Any, number: int, value: float) -> Message:
        self._mid += 1
        message = Message(code=Code.CONTENT, mtype=mtype, mid=self._mid,
                          payload=cbor2.dumps({"temperature": value}))
        message.token = request.token
        message.opt.observe = number
        message.opt.content_format = wire.CF_OCF_CBOR
        return message


async def _observe(confirmable: bool) -> tuple[Message, Message]:
    """Register, get the first answer and a notification of the request's type, then a CON
    notification; returns the registration and the first datagram the gateway sent after it."""
    device = HandDevice()
    client = OcfClient(5.0, 16384, observe_confirmable=confirmable)
    await client.start()
    values: asyncio.Queue[Any] = asyncio.Queue()
    observation = client.observe(Endpoint("coap", "::1", device.port), "/temperature",
                                 values.put_nowait, lambda reason: None)
    try:
        async with asyncio.timeout(10):
            request, remote = await device.receive()
            assert request.code == Code.GET and request.opt.observe == 0
            first = device.notification(request, ACK if request.mtype == CON else NON, 1, 20.0)
            if request.mtype == CON:
                first.mid = request.mid
            await device.send(first, remote)
            assert await values.get() == {"temperature": 20.0}
            same_type = device.notification(request, request.mtype, 2, 21.0)
            await device.send(same_type, remote)
            assert await values.get() == {"temperature": 21.0}
            if request.mtype == CON:
                ack, _ = await device.receive()
                assert (ack.mtype, ack.code, ack.mid) == (ACK, EMPTY, same_type.mid)
            confirmable_one = device.notification(request, CON, 3, 22.0)
            await device.send(confirmable_one, remote)
            assert await values.get() == {"temperature": 22.0}
            after, _ = await device.receive()
            assert (after.mtype, after.code, after.mid) == (ACK, EMPTY, confirmable_one.mid)
            return request, after
    finally:
        if observation.task is not None:
            observation.task.cancel()
        await client.shutdown()
        device.close()


async def test_observations_are_registered_non_confirmable_by_default() -> None:
    assert OcfConfig().observe_confirmable is False
    request, after = await _observe(OcfConfig().observe_confirmable)
    assert request.mtype == NON
    # The NON notification drew no datagram: the first thing sent after the registration is
    # the empty ACK of the CON notification that followed it.
    assert after.mtype == ACK


async def test_observe_confirmable_registers_with_a_con() -> None:
    request, _ = await _observe(True)
    assert request.mtype == CON
