"""The gateway's bus connections carry no buffered file object (``bridge.alljoyn.lean_bus``).

dbus-fast must call the override when it makes the socket (else every connection costs its
16 KiB of unused buffers again), and a connection made that way must work and close as any
other: calls answered, signals received, the socket closed on disconnect.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from dbus_fast import Message, MessageType

from bridge.alljoyn.bus import BUS_DAEMON, BUS_PATH, connect, parse_bus
from bridge.alljoyn.lean_bus import LeanMessageBus
from bridge.sim.testing.dbus import DBusDaemon

#: the file objects dbus-fast got from the override, in order.
_MADE: list[Any] = []


class _Watched(LeanMessageBus):
    @staticmethod
    def _create_socket_for_transport(transport: str, options: dict[str, str]) -> tuple[
            socket.socket, Any, Any]:
        made = LeanMessageBus._create_socket_for_transport(transport, options)
        _MADE.append(made[1])
        return made


async def test_dbus_fast_makes_the_socket_through_the_override(dbus_daemon: DBusDaemon) -> None:
    _MADE.clear()
    bus = await _Watched(bus_address=dbus_daemon.address).connect()
    try:
        assert len(_MADE) == 1
        assert isinstance(_MADE[0], socket.SocketIO)  # unbuffered: no 8 KiB buffers
        reply = await bus.call(Message(destination=BUS_DAEMON, path=BUS_PATH,
                                       interface="org.freedesktop.DBus.Peer", member="Ping"))
        assert reply is not None and reply.message_type is MessageType.METHOD_RETURN
    finally:
        bus.disconnect()
        await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
    assert _MADE[0].closed


async def test_a_lean_connection_sends_and_receives_signals(dbus_daemon: DBusDaemon) -> None:
    sender = await connect(parse_bus(dbus_daemon.address))
    receiver = await connect(parse_bus(dbus_daemon.address))
    assert isinstance(sender, LeanMessageBus) and isinstance(receiver, LeanMessageBus)
    got: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    def on_message(msg: Message) -> None:
        if msg.member == "Hello" and msg.message_type is MessageType.SIGNAL and not got.done():
            got.set_result(msg)

    receiver.add_message_handler(on_message)
    try:
        await receiver.call(Message(destination=BUS_DAEMON, path=BUS_PATH,
                                    interface=BUS_DAEMON, member="AddMatch", signature="s",
                                    body=["type='signal',interface='org.example.Lean'"]))
        payload = "x" * 100_000  # larger than one socket write and than the old buffers
        await sender.send(Message.new_signal("/lean", "org.example.Lean", "Hello", "s",
                                             [payload]))
        signal = await asyncio.wait_for(got, 10.0)
        assert signal.body == [payload] and signal.sender == sender.unique_name
    finally:
        for bus in (sender, receiver):
            bus.disconnect()
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
