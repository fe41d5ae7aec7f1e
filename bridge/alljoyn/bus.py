"""Which D-Bus bus to use, connecting to it, and method calls that always end.

Layer: ``bridge.alljoyn`` (the only package that imports dbus-fast). This module knows nothing
about About, Things or the registry: it turns a ``--bus`` word into a connection and wraps
``MessageBus.call`` with a deadline, so no caller can hang on a peer that vanished mid-call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from dbus_fast import BusType, DBusError, InvalidAddressError, Message, MessageType
from dbus_fast.aio import MessageBus

from bridge.alljoyn.bus_failure import bus_address, bus_unavailable
from bridge.alljoyn.config import bus_problem
from bridge.alljoyn.lean_bus import LeanMessageBus
from bridge.core.errors import DeviceTimeout

BUS_DAEMON = "org.freedesktop.DBus"
BUS_PATH = "/org/freedesktop/DBus"


@dataclass(frozen=True)
class BusChoice:
    """The system bus, the session bus (``DBUS_SESSION_BUS_ADDRESS``) or an explicit address."""

    kind: Literal["system", "session", "address"]
    address: str = ""

    def __str__(self) -> str:
        return self.address if self.kind == "address" else f"the {self.kind} bus"


def parse_bus(text: str) -> BusChoice:
    """``system``, ``session`` or a D-Bus address; ValueError (with the reason) otherwise.

    CLIs use it as the ``type=`` of their ``--bus`` option.
    """
    problem = bus_problem(text)
    if problem:
        raise ValueError(problem)
    if text in ("system", "session"):
        return BusChoice(kind=text)  # type: ignore[arg-type]
    return BusChoice(kind="address", address=text)


async def connect(choice: BusChoice, within: float = 10.0) -> MessageBus:
    """A connected bus. Raises ``BusUnavailable`` (saying why and what to do) when the bus
    cannot be reached, ``DBusError`` when it refuses the connection."""
    try:
        if choice.kind == "address":
            bus = LeanMessageBus(bus_address=choice.address)
        else:
            bus = LeanMessageBus(bus_type=BusType.SYSTEM if choice.kind == "system"
                             else BusType.SESSION)
        async with asyncio.timeout(within):
            await bus.connect()
    except (OSError, EOFError, TimeoutError, InvalidAddressError) as err:
        raise bus_unavailable(choice.kind, str(choice), bus_address(choice.kind, choice.address),
                              err, within) from err
    # dbus-fast 5.2 takes an error reply to Hello (for example the daemon's
    # max_connections_per_user) as the unique name; a real unique name starts with ":".
    if not (bus.unique_name or "").startswith(":"):
        text = bus.unique_name or "the bus refused the connection"
        bus.disconnect()
        raise DBusError("org.freedesktop.DBus.Error.LimitsExceeded", text)
    return bus


async def call(bus: MessageBus, msg: Message, within: float, what: str = "") -> Message:
    """Send a method call and return its successful reply.

    Raises ``DBusError`` for an error reply, ``DeviceTimeout`` when no answer came within
    ``within`` seconds (a peer that left mid-call never answers), and ``DBusError``
    ``org.freedesktop.DBus.Error.Disconnected`` when our own connection is gone.
    """
    if not bus.connected:
        raise DBusError("org.freedesktop.DBus.Error.Disconnected", "not connected to the bus")
    try:
        async with asyncio.timeout(within):
            reply = await bus.call(msg)
    except TimeoutError:
        label = what or f"{msg.destination} {msg.interface}.{msg.member}"
        raise DeviceTimeout(f"{label}: no answer within {within:g} s") from None
    except (OSError, EOFError) as err:
        raise DBusError("org.freedesktop.DBus.Error.Disconnected", str(err)) from err
    if reply.message_type is MessageType.ERROR:
        text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
        raise DBusError(reply.error_name or "org.freedesktop.DBus.Error.Failed", text,
                        reply=reply)
    return reply


def method_call(destination: str, path: str, interface: str, member: str,
                signature: str = "", body: list[Any] | None = None) -> Message:
    return Message(destination=destination, path=path, interface=interface, member=member,
                   signature=signature, body=body or [])


async def add_match(bus: MessageBus, rule: str, within: float) -> None:
    await call(bus, method_call(BUS_DAEMON, BUS_PATH, BUS_DAEMON, "AddMatch", "s", [rule]),
               within, "AddMatch")


async def remove_match(bus: MessageBus, rule: str, within: float) -> None:
    await call(bus, method_call(BUS_DAEMON, BUS_PATH, BUS_DAEMON, "RemoveMatch", "s", [rule]),
               within, "RemoveMatch")


async def ping_bus(bus: MessageBus, within: float) -> None:
    """A round trip to dbus-daemon: when it returns, the daemon has read all we sent before."""
    await call(bus, method_call(BUS_DAEMON, BUS_PATH, "org.freedesktop.DBus.Peer", "Ping"),
               within, "Ping to the bus")
