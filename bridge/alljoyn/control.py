"""The gateway's small D-Bus control interface, used by ``ocfaj devices``.

Layer: ``bridge.alljoyn`` (the only package that talks D-Bus). The daemon hands in two
callables that describe the gateway and its devices as JSON-able data; this module serves them
as ``org.ocfaj.Gateway1`` at ``/org/ocfaj/Gateway`` under the well-known name
``org.ocfaj.Gateway.<gateway name>``, and offers the matching client call. It never changes
anything in the gateway itself, with one exception: ``FindUnowned`` and ``Onboard`` (given an
``Onboarding`` by the daemon) find unowned secured OCF devices and take ownership of one with
its PIN, the action of ``ocfaj onboard``. On the system bus, the shipped policy
(packaging/dbus/org.ocfaj.conf) lets only root and members of the group ``ocfaj`` call any of
it, ``Onboard`` included.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from dbus_fast import DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.constants import RequestNameReply
from dbus_fast.service import ServiceInterface, method

from bridge.alljoyn.bus import BUS_DAEMON, BUS_PATH, parse_bus
from bridge.alljoyn.bus import connect as connect_bus

log = logging.getLogger("ocfaj.control")

INTERFACE = "org.ocfaj.Gateway1"
PATH = "/org/ocfaj/Gateway"
NAME_PREFIX = "org.ocfaj.Gateway"

Describe = Callable[[], Any]
#: The D-Bus error of a refused or failed onboarding; its message says why.
ONBOARD_FAILED = "org.ocfaj.Error.OnboardFailed"


class Onboarding(Protocol):
    """What the daemon offers for ``FindUnowned`` and ``Onboard`` (JSON-able answers; a
    failure raises an exception whose text is for the caller)."""

    def find(self) -> Awaitable[Any]: ...

    def onboard(self, device: str, pin: str) -> Awaitable[Any]: ...


def bus_name_for(gateway_name: str) -> str:
    """The well-known bus name of a gateway (each element must start with a letter)."""
    element = re.sub(r"[^A-Za-z0-9_]", "_", gateway_name) or "ocfaj"
    if not element[0].isalpha():
        element = "g" + element
    return f"{NAME_PREFIX}.{element}"


ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"


async def connect(bus: str) -> MessageBus:
    """Connect to ``system``, ``session`` or an explicit D-Bus address (``BusUnavailable``
    says why when that fails)."""
    return await connect_bus(parse_bus(bus))


class _GatewayInterface(ServiceInterface):
    def __init__(self, devices: Describe, gateway: Describe,
                 onboarding: Onboarding | None) -> None:
        super().__init__(INTERFACE)
        self._devices = devices
        self._gateway = gateway
        self._onboarding = onboarding

    @method()
    def ListDevices(self) -> s:  # type: ignore[name-defined]  # noqa: F821
        return json.dumps(self._devices(), default=str)

    @method()
    def GetInfo(self) -> s:  # type: ignore[name-defined]  # noqa: F821
        return json.dumps(self._gateway(), default=str)

    @method()
    async def FindUnowned(self) -> s:  # type: ignore[name-defined]  # noqa: F821
        return json.dumps(await self._run(lambda o: o.find()), default=str)

    @method()
    async def Onboard(self, device: s, pin: s) -> s:  # type: ignore[name-defined]  # noqa: F821
        return json.dumps(await self._run(lambda o: o.onboard(device, pin)), default=str)

    async def _run(self, call: Callable[[Onboarding], Awaitable[Any]]) -> Any:
        if self._onboarding is None:
            raise DBusError(ONBOARD_FAILED, "this gateway has no OCF side")
        try:
            return await call(self._onboarding)
        except Exception as err:  # the caller gets the reason, the gateway keeps running
            raise DBusError(ONBOARD_FAILED, str(err)) from None


class ControlService:
    """Serves the control interface; restarted by the supervisor when the bus goes away."""

    def __init__(self, bus: str, devices: Describe, gateway: Describe,
                 onboarding: Onboarding | None = None) -> None:
        self.bus_spec = bus
        self._devices = devices
        self._gateway = gateway
        self._onboarding = onboarding
        self._bus: MessageBus | None = None

    async def start(self) -> None:
        gateway_name = str(self._gateway().get("name", "ocfaj"))
        self._bus = await connect(self.bus_spec)
        self._bus.export(PATH, _GatewayInterface(self._devices, self._gateway,
                                                 self._onboarding))
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


async def query(bus: str, gateway_name: str | None, member: str, wait: float = 5.0,
                args: tuple[str, ...] = ()) -> Any:
    """Call ``member`` (``ListDevices``, ``GetInfo``; ``FindUnowned``, ``Onboard`` with
    ``args``) on a running gateway.

    ``gateway_name`` ``None`` means the only gateway on the bus (found by its bus name).
    Raises ``PermissionError`` when the bus policy refuses the call, ``ConnectionError`` when
    no gateway answers, ``BusUnavailable`` when the bus cannot be reached.
    """
    conn = await connect(bus)
    try:
        async with asyncio.timeout(wait):
            name = (bus_name_for(gateway_name) if gateway_name is not None
                    else await _only_gateway(conn, bus))
            reply = await conn.call(Message(destination=name, path=PATH,
                                            interface=INTERFACE, member=member,
                                            signature="s" * len(args), body=list(args)))
    finally:
        conn.disconnect()
    if reply is None or reply.message_type == MessageType.ERROR:
        body = reply.body[0] if reply is not None and reply.body else ""
        error = reply.error_name if reply is not None else "no reply"
        if error == ACCESS_DENIED:
            raise PermissionError(f"the bus refused the call to {name} ({error})")
        raise ConnectionError(f"gateway {name!r} did not answer on {bus}: {error} {body}")
    return json.loads(reply.body[0])


async def running_gateways(conn: MessageBus) -> list[str]:
    """The control names of every gateway on the bus, sorted."""
    reply = await conn.call(Message(destination=BUS_DAEMON, path=BUS_PATH,
                                    interface=BUS_DAEMON, member="ListNames"))
    if reply is None or reply.message_type == MessageType.ERROR:
        raise ConnectionError(f"the bus did not list its names: {reply and reply.error_name}")
    return sorted(n for n in reply.body[0] if n.startswith(NAME_PREFIX + "."))


async def _only_gateway(conn: MessageBus, bus: str) -> str:
    names = await running_gateways(conn)
    if not names:
        raise ConnectionError(f"no gateway is running on {bus} (no bus name {NAME_PREFIX}.*)")
    if len(names) > 1:
        found = ", ".join(n[len(NAME_PREFIX) + 1:] for n in names)
        raise ConnectionError(f"several gateways run on {bus} ({found}): choose one with "
                              "--name")
    return names[0]
