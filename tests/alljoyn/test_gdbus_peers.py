"""The AllJoyn side against peers written with a second D-Bus library: GDBus through PyGObject
(Debian's ``python3-gi``, run by ``/usr/bin/python3`` in a subprocess), so the gateway is not
only tested against its own producer and dbus-fast.

A GDBus lamp (``tests/alljoyn/gdbus/producer.py``) is found, read, followed and switched by
the consumer, also when it wants its About language named; a GDBus consumer
(``tests/alljoyn/gdbus/consumer.py``) reads and drives a virtual producer."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry, SetProperties
from bridge.core.thing import Side, Thing
from bridge.model.types import Catalogue
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SideFactory
from tests.alljoyn.producers_fixtures import BRIGHTNESS, ON, ON_OFF, export_lamp

#: Debian's interpreter, whose python3-gi the project's test script installs.
SYSTEM_PYTHON = "/usr/bin/python3"
HERE = Path(__file__).parent / "gdbus"
OFF = "org.alljoyn.SmartSpaces.Operation.OffControl"


def check_gi() -> None:
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('Gio', '2.0')"],
                           capture_output=True, text=True, check=False)
    assert probe.returncode == 0, (
        f"{SYSTEM_PYTHON} cannot import gi (install python3-gi; ./scripts/test does): "
        f"{probe.stderr}")


class GDBusLamp:
    """The GDBus producer process and the JSON lines it printed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self.unique_name = ""

    async def next_event(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        async with asyncio.timeout(15):
            line = await self.process.stdout.readline()
        assert line, f"the GDBus lamp exited ({await self.process.wait()})"
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event


LampFactory = Callable[..., Awaitable[GDBusLamp]]


@pytest.fixture
async def gdbus_lamp(dbus_daemon: DBusDaemon) -> AsyncIterator[LampFactory]:
    check_gi()
    lamps: list[GDBusLamp] = []

    async def start(*flags: str) -> GDBusLamp:
        process = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON, str(HERE / "producer.py"), dbus_daemon.address, *flags,
            stdout=subprocess.PIPE)
        lamp = GDBusLamp(process)
        lamps.append(lamp)
        lamp.unique_name = (await lamp.next_event())["ready"]
        return lamp

    yield start
    for lamp in lamps:
        if lamp.process.returncode is None:
            lamp.process.terminate()
        await lamp.process.wait()


def alljoyn_things(registry: Registry) -> list[Thing]:
    return [t for t in registry if t.origin is Side.ALLJOYN]


@pytest.mark.parametrize("flags", [(), ("--refuse-empty-language",)])
async def test_gdbus_producer_is_consumed(gdbus_lamp: LampFactory, make_side: SideFactory,
                                          registry: Registry, flags: tuple[str, ...]) -> None:
    await make_side()
    lamp = await gdbus_lamp(*flags)
    await await_until(lambda: bool(alljoyn_things(registry)), message="the GDBus lamp")
    thing = alljoyn_things(registry)[0]
    assert thing.info.name == "GDBus Lamp" and thing.info.manufacturer == "GLib Works"
    assert thing.info.extra["DefaultLanguage"] == ("de" if flags else "en")
    assert thing.info.device_types == ("oic.d.light",)
    assert set(thing.capabilities) == {"switch", "brightness"}
    assert {c.origin_meta["path"] for c in thing.capabilities.values()} == {"/lamp"}
    assert thing.capabilities["brightness"].state == {"brightness": 50}
    assert thing.capabilities["switch"].state == {"on": False}

    await registry.command(thing.id, SetProperties("switch", {"on": True}), Side.MQTT)
    assert await lamp.next_event() == {"call": "SwitchOn"}
    await await_until(lambda: thing.capabilities["switch"].state["on"] is True,
                      message="the lamp's PropertiesChanged")
    await registry.command(thing.id, SetProperties("brightness", {"brightness": 25}),
                           Side.MQTT)
    assert await lamp.next_event() == {"set": "Brightness", "value": 0.25}
    await registry.command(thing.id, SetProperties("switch", {"on": False}), Side.MQTT)
    assert await lamp.next_event() == {"call": "SwitchOff"}
    await await_until(lambda: thing.capabilities["switch"].state["on"] is False)

    lamp.process.terminate()
    await lamp.process.wait()
    await await_until(lambda: not thing.available, message="the lamp to leave the bus")


async def test_gdbus_consumer_uses_a_virtual_producer(
        dbus_daemon: DBusDaemon, make_side: SideFactory, registry: Registry,
        book: IdentityBook, catalogue: Catalogue) -> None:
    check_gi()
    ex = await export_lamp(make_side, registry, book, catalogue)
    process = await asyncio.create_subprocess_exec(
        SYSTEM_PYTHON, str(HERE / "consumer.py"), dbus_daemon.address, ex.name,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    seen = json.loads(out)
    about = seen["about"]
    assert about["AppId"] == ex.thing.identity.app_id.hex()
    assert (about["AppName"], about["Manufacturer"], about["DefaultLanguage"]) == (
        "Desk Lamp", "Acme", "en")
    assert seen["localised_app_name"] == "Desk Lamp"
    assert seen["tlh"] == "org.alljoyn.Error.LanguageNotSupported"
    assert seen["objects"]["/light"] == sorted([ON_OFF, ON, OFF, BRIGHTNESS])
    assert seen["objects"]["/About"] == ["oic.d.virtual", "org.alljoyn.About"]
    assert seen["path"] == "/light"
    assert seen["is_on_emits"] == "true"
    assert seen["secure_annotations"] == []
    assert (seen["is_on"], seen["brightness"]) == (False, 0.6)
    assert ex.origin.commands == [SetProperties("brightness", {"brightness": 45}),
                                  SetProperties("switch", {"on": True})]
