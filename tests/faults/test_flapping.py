"""A device flapping 1,000 times under a gateway leaks nothing (issue 9 point 2).

The cheapest real flap: an AllJoyn device in the test process drops its bus connection without
a goodbye (``vanish``: like a crash) and comes back on a new one, 1,000 times, under an
in-process gateway on the test's private bus with its OCF side on ``ocfbr0`` (so the device
also has a virtual OCF copy that turns unavailable and back). Each cycle waits until the
gateway saw the device leave and return. After a warm-up, the process's RSS may grow by less
than 5 %, and at the end the asyncio tasks, open file descriptors and bus connections are back
to what they were after the warm-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
from pathlib import Path

from dbus_fast import Message as DBusMessage
from dbus_fast import MessageType
from dbus_fast.aio import MessageBus

from bridge.alljoyn.bus import parse_bus
from bridge.core.registry import Registry
from bridge.daemon.config import parse_config
from bridge.daemon.gateway import Gateway
from bridge.model import load_catalogue
from bridge.sim.alljoyn import AllJoynSimServer, sim_device
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.netns import OcfNetwork
from bridge.sim.testing.procs import await_until

FLAPS = 1000
WARM_UP = 100
#: Each step of a cycle is a bus round trip or two on loopback.
STEP_TIME = 10.0


def rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert found is not None
    return int(found.group(1))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def until_available(registry: Registry, thing_id: str, available: bool) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIME
    while True:
        thing = registry.get(thing_id)
        if thing is not None and thing.available is available:
            return
        assert loop.time() < deadline, f"{thing_id} never became available={available}"
        await asyncio.sleep(0.002)


async def flap(device: AllJoynSimServer, registry: Registry, thing_id: str, times: int) -> None:
    for _ in range(times):
        await device.vanish()
        await until_available(registry, thing_id, False)
        await device.start()
        await until_available(registry, thing_id, True)


async def test_a_device_flapping_1000_times_leaks_nothing(
        tmp_path: Path, dbus_daemon: DBusDaemon, ocf_network: OcfNetwork) -> None:
    catalogue = load_catalogue()
    config = parse_config({
        "gateway": {"name": "gw", "state_dir": str(tmp_path / "state"), "log_level": "info"},
        "ocf": {"interfaces": [ocf_network.local.ifname], "discovery_interval": 30.0},
        "alljoyn": {"bus": dbus_daemon.address, "scan_timeout": 1.0,
                    "reconnect_max_delay": 1.0},
        "mqtt": {"enabled": False},
    }, env={})
    gateway = Gateway(config, catalogue)
    device = AllJoynSimServer(sim_device("Lamp", catalogue, "light"),
                              parse_bus(dbus_daemon.address))
    try:
        await gateway.start()
        await device.start()
        await until_available_named(gateway, "Lamp")
        thing_id = next(t.id for t in gateway.registry if t.info.name == "Lamp")

        await flap(device, gateway.registry, thing_id, WARM_UP)
        gc.collect()
        rss, fds, tasks = rss_kib(), open_fds(), len(asyncio.all_tasks())
        names = await bus_names(dbus_daemon.address)
        await flap(device, gateway.registry, thing_id, FLAPS - WARM_UP)
        gc.collect()
        assert rss_kib() < rss * 1.05, f"RSS grew from {rss} to {rss_kib()} KiB"
        assert open_fds() == fds, sorted(os.listdir("/proc/self/fd"))
        # A producer sync of the last return may still be finishing: wait for it to settle.
        # No task may pile up. Each virtual OCF device runs a task of its own (its observers'
        # liveness check) that comes and goes with the device, so the count may also be lower.
        with contextlib.suppress(TimeoutError):
            await await_until(lambda: len(asyncio.all_tasks()) <= tasks, timeout=STEP_TIME)
        assert len(asyncio.all_tasks()) <= tasks, asyncio.all_tasks()
        # The device's last connection replaced its first: the bus holds as many as before.
        assert len(await bus_names(dbus_daemon.address)) == len(names)
        # One thing, one virtual OCF copy: the flaps made no duplicates.
        assert [t.info.name for t in gateway.registry].count("Lamp") == 1
        assert gateway.describe_gateway()["parts"]["ocf"]["virtual"] == 1
    finally:
        await device.stop()
        await gateway.shutdown()


async def bus_names(address: str) -> list[str]:
    """Every connection on the bus (unique names; a new connection of our own included)."""
    bus = await MessageBus(bus_address=address).connect()
    try:
        reply = await bus.call(DBusMessage(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus", member="ListNames"))
        assert reply is not None and reply.message_type is MessageType.METHOD_RETURN
        return [name for name in reply.body[0] if name.startswith(":")]
    finally:
        bus.disconnect()


async def until_available_named(gateway: Gateway, name: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20.0
    while not any(t.info.name == name and t.available for t in gateway.registry):
        assert loop.time() < deadline, f"{name} never showed up"
        await asyncio.sleep(0.05)
