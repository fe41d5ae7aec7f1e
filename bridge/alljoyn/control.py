"""The gateway's small D-Bus control interface, used by ``ocfaj devices``.

Layer: ``bridge.alljoyn`` (the only package that talks D-Bus). The daemon hands in two
callables that describe the gateway and its devices as JSON-able data; this module serves them
as ``org.ocfaj.Gateway1`` at ``/org/ocfaj/Gateway`` under the well-known name
``org.ocfaj.Gateway.<gateway name>``, and offers the matching client call. It never changes
anything in the gateway: the interface is read-only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.constants import RequestNameReply
from dbus_fast.service import ServiceInterface, method

log = logging.getLogger("ocfaj.control")

INTERFACE = "org.ocfaj.Gateway1"
PATH = "/org/ocfaj/Gateway"
NAME_PREFIX = "org.ocfaj.Gateway"

Describe = Callable[[], Any]


def bus_name_for(gateway_name: str) -> str:
    """The well-known bus name of a gateway (each element must start with a letter)."""
    element = re.sub(r"[^A-Za-z0-9_]", "_", gateway_name) or "ocfaj"
    if not element[0].isalpha():
        element = "g" + element
    return f"{NAME_PREFIX}.{element}"


async def connect(bus: str) -> MessageBus:
    """Connect to ``system``, ``session`` or an explicit D-Bus address."""
    if bus == "system":
        return await MessageBus(bus_type=BusType.SYSTEM).connect()
    if bus == "session":
        return await MessageBus(bus_type=BusType.SESSION).connect()
    return await MessageBus(bus_address=bus).connect()


class _GatewayInterface(ServiceInterface):
    def __init__(self, devices: Describe, gateway: Describe) -> None:
        super().__init__(INTERFACE)
        self._devices = devices
        self._gateway = gateway

    @method()
    def ListDevices(self) -> s:  # type: ignore[name-defined]  # noqa: F821
        return json.dumps(self._devices(), default=str)

    @method()
    def GetInfo(self) -> s:  # type: ignore[name-defined]  # noqa: F821
        return json.dumps(self._gateway(), default=str)


class ControlService:
    """Serves the control interface; restarted by the supervisor when the bus goes away."""

    def __init__(self, bus: str, devices: Describe, gateway: Describe) -> None:
        self.bus_spec = bus
        self._devices = devices
        self._gateway = gateway
        self._bus: MessageBus | None = None

    async def start(self) -> None:
        gateway_name = str(self._gateway().get("name", "ocfaj"))
        self._bus = await connect(self.bus_spec)
        self._bus.export(PATH, _GatewayInterface(self._devices, self._gateway))
        name = bus_name_for(gateway_name)
        reply = await self._bus.request_name(name)
        if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            log.warning("control name %s is owned by another process; `ocfaj devices` will "
                        "reach that one", name)

    async def wait(self) -> None:
        if self._bus is not None:
            await self._bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    async def shutdown(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None


async def query(bus: str, gateway_name: str, member: str, wait: float = 5.0) -> Any:
    """Call ``member`` (``ListDevices`` or ``GetInfo``) on a running gateway."""
    conn = await connect(bus)
    try:
        async with asyncio.timeout(wait):
            reply = await conn.call(Message(destination=bus_name_for(gateway_name), path=PATH,
                                            interface=INTERFACE, member=member))
    finally:
        conn.disconnect()
    if reply is None or reply.message_type == MessageType.ERROR:
        body = reply.body[0] if reply is not None and reply.body else ""
        name = reply.error_name if reply is not None else "no reply"
        raise ConnectionError(f"gateway {gateway_name!r} did not answer on {bus}: {name} {body}")
    return json.loads(reply.body[0])
