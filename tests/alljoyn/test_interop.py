"""Interop with D-Bus tools nobody here wrote: busctl, gdbus and dbus-monitor against a
virtual producer on the private bus (subprocesses, ``--address`` only)."""

from __future__ import annotations

import asyncio
import subprocess

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry, SetProperties
from bridge.model.types import Catalogue
from bridge.sim.testing.dbus import DBusDaemon
from tests.alljoyn.conftest import SideFactory
from tests.alljoyn.producers_fixtures import BRIGHTNESS, OFF, ON, ON_OFF, export_lamp


async def run(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE,
                                                stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"{args}: {err.decode()}"
    return out.decode()


async def test_busctl_and_gdbus_use_a_virtual_device(
        dbus_daemon: DBusDaemon, make_side: SideFactory, registry: Registry,
        book: IdentityBook, catalogue: Catalogue) -> None:
    ex = await export_lamp(make_side, registry, book, catalogue)
    address = dbus_daemon.address
    busctl = ("busctl", f"--address={address}")

    tree = await run(*busctl, "tree", ex.name)
    for path in ("/About", "/light", "/widget/1"):
        assert path in tree
    table = await run(*busctl, "introspect", ex.name, "/light")
    line = next(ln for ln in table.splitlines() if ln.startswith(".Brightness"))
    assert line.split()[1:] == ["property", "d", "0.6", "emits-change", "writable"]
    xml = await run("gdbus", "introspect", "--address", address, "--dest", ex.name,
                    "--object-path", "/light", "--xml")
    assert f'<interface name="{ON_OFF}">' in xml
    assert ('<annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" '
            'value="true"/>') in xml
    assert '<method name="SwitchOn">' in xml

    assert (await run(*busctl, "get-property", ex.name, "/light", BRIGHTNESS,
                      "Brightness")).strip() == "d 0.6"
    await run(*busctl, "set-property", ex.name, "/light", BRIGHTNESS, "Brightness", "d",
              "0.45")
    assert ex.origin.commands[-1] == SetProperties("brightness", {"brightness": 45})
    await run(*busctl, "call", ex.name, "/light", ON, "SwitchOn")
    assert ex.origin.commands[-1] == SetProperties("switch", {"on": True})
    assert (await run(*busctl, "get-property", ex.name, "/light", ON_OFF, "IsOn")).strip() \
        == "b true"
    await run("gdbus", "call", "--address", address, "--dest", ex.name, "--object-path",
              "/light", "--method", f"{OFF}.SwitchOff")
    assert ex.origin.commands[-1] == SetProperties("switch", {"on": False})
    got = await run("gdbus", "call", "--address", address, "--dest", ex.name, "--object-path",
                    "/light", "--method", "org.freedesktop.DBus.Properties.Get",
                    BRIGHTNESS, "Brightness")
    assert got.strip().startswith("(<") and float(got.strip()[2:-3]) == 0.45

    proc = await asyncio.create_subprocess_exec(
        *busctl, "set-property", ex.name, "/light", BRIGHTNESS, "Brightness", "d", "2",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode != 0
    assert "Brightness = 2.0 is out of range 0..1" in err.decode()


async def test_dbus_monitor_sees_properties_changed(
        dbus_daemon: DBusDaemon, make_side: SideFactory, registry: Registry,
        book: IdentityBook, catalogue: Catalogue) -> None:
    ex = await export_lamp(make_side, registry, book, catalogue)
    monitor = await asyncio.create_subprocess_exec(
        "dbus-monitor", "--address", dbus_daemon.address,
        f"type='signal',sender='{ex.name}',member='PropertiesChanged'",
        stdout=subprocess.PIPE)
    try:
        assert monitor.stdout is not None
        await asyncio.sleep(0.5)  # let dbus-monitor install its match before the change
        registry.update_state(ex.thing.id, "brightness", {"brightness": 70})
        lines: list[str] = []
        async with asyncio.timeout(10):
            while not any("double 0.7" in ln for ln in lines):
                lines.append((await monitor.stdout.readline()).decode())
        text = "".join(lines)
        assert "member=PropertiesChanged" in text and f'string "{BRIGHTNESS}"' in text
        assert 'string "Brightness"' in text
    finally:
        monitor.terminate()
        await monitor.wait()
