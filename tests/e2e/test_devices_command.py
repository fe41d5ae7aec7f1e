"""Issue 5 point 7: ``ocfaj devices`` lists what a running gateway bridged, over the gateway's
D-Bus control interface, as JSON and as a table."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.alljoyn_consumer import Consumer
from tests.e2e.conftest import DETECTION_TIME, THERMOSTAT
from tests.e2e.waiting import HasLogs


def devices(bus: DBusDaemon, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "devices", "--bus", bus.address,
                           "--set", "gateway.name=gw", *extra],
                          capture_output=True, text=True, timeout=30, check=False)


async def rows_until(bus: DBusDaemon, gateways: HasLogs, predicate: Any, what: str,
                     within: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        done = await asyncio.to_thread(devices, bus, "--json")
        assert done.returncode == 0, (done.stderr, gateways.logs())
        rows = json.loads(done.stdout)
        if predicate(rows):
            return rows
        if loop.time() > deadline:
            raise AssertionError(f"ocfaj devices never showed {what}: {rows}\n"
                                 f"{gateways.logs()}")
        await asyncio.sleep(0.3)


async def test_devices_lists_both_origins_with_ids_and_availability(
        ocf_device: DeviceFactory, alljoyn_device: DeviceFactory,
        gateway_factory: TestGateways, dbus_daemon: DBusDaemon, consumer: Consumer) -> None:
    lamp = ocf_device("light", "Lamp")
    alljoyn_device(THERMOSTAT, "Thermo")
    await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    rows = await rows_until(dbus_daemon, gateway_factory,
                            lambda rows: {r["name"] for r in rows} >= {"Lamp", "Thermo"},
                            "Lamp and Thermo")
    by_name = {row["name"]: row for row in rows}
    ocf, alljoyn = by_name["Lamp"], by_name["Thermo"]

    assert ocf["origin"] == "ocf" and alljoyn["origin"] == "alljoyn"
    assert ocf["available"] is True and alljoyn["available"] is True
    assert ocf["bridged_to"] == ["alljoyn"] and alljoyn["bridged_to"] == ["ocf"]
    assert ocf["piid"] == lamp.facts["piid"] and ocf["di"] == lamp.facts["di"]
    assert ocf["app_id"] == (await consumer.wait_app("Lamp", virtual=True)).app_id.hex()
    assert ocf["capabilities"]["switch"]["state"] == {"on": False}
    assert set(alljoyn["capabilities"]) == {"temperature", "target_temperature"}
    thermo_app = await consumer.wait_app("Thermo", virtual=False)
    assert alljoyn["device_id"] == thermo_app.device_id
    assert alljoyn["app_id"] == thermo_app.app_id.hex()
    assert alljoyn["di"] and alljoyn["piid"]

    table = await asyncio.to_thread(devices, dbus_daemon)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["ORIGIN", "NAME", "TYPE"]
    lamp_line = next(line for line in lines if " Lamp " in line)
    assert lamp_line.startswith("ocf") and " up " in lamp_line and "switch.on=false" in lamp_line
    # A property named like its capability is shown once: temperature=..., not twice.
    thermo_line = next(line for line in lines if " Thermo " in line)
    assert " temperature=" in thermo_line and "temperature=temperature" not in thermo_line

    # A device that leaves is listed as unavailable ("gone" in the table).
    await asyncio.to_thread(lamp.leave)
    rows = await rows_until(dbus_daemon, gateway_factory,
                            lambda rows: any(r["name"] == "Lamp" and not r["available"]
                                             for r in rows),
                            "Lamp unavailable", within=DETECTION_TIME + 4.0)
    table = await asyncio.to_thread(devices, dbus_daemon)
    assert " gone " in next(line for line in table.stdout.splitlines() if " Lamp " in line)


def test_devices_says_when_no_gateway_answers(dbus_daemon: DBusDaemon) -> None:
    done = devices(dbus_daemon, "--json")
    assert done.returncode == 1
    assert "cannot reach gateway 'gw'" in done.stderr


def test_devices_says_no_devices_when_the_gateway_knows_none(
        gateway_factory: TestGateways, dbus_daemon: DBusDaemon) -> None:
    gateway_factory("gw", own_host=True)
    table = devices(dbus_daemon)
    assert table.returncode == 0, (table.stderr, gateway_factory.logs())
    assert table.stdout == "no devices: gateway 'gw' knows none yet\n"
    listed = devices(dbus_daemon, "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
