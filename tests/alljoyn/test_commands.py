"""Commands to AllJoyn-origin Things: model writes become Set or SwitchOn/SwitchOff on the
simulated device, device errors come back as DeviceError with their code, and a device that
stops answering mid-call gives DeviceTimeout instead of a hang."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bridge.core.errors import DeviceError, DeviceTimeout, OutOfRange
from bridge.core.registry import Registry, SetProperties
from bridge.core.thing import Side, Thing
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.procs import await_until, stop_process
from tests.alljoyn.conftest import SideFactory, SimFactory


def lamp(registry: Registry) -> Thing:
    return next(t for t in registry if t.origin is Side.ALLJOYN)


async def test_switch_uses_switch_on_and_off(make_sim: SimFactory, make_side: SideFactory,
                                             registry: Registry) -> None:
    sim = await make_sim("light", "Lamp")
    await make_side()
    thing = lamp(registry)
    await registry.command(thing.id, SetProperties("switch", {"on": True}), Side.MQTT)
    received = await sim.device.next_received()
    assert (received.capability, dict(received.values)) == ("switch", {"on": True})
    assert sim.device.state["switch"]["on"] is True
    await await_until(lambda: thing.capabilities["switch"].state["on"] is True)
    await registry.command(thing.id, SetProperties("switch", {"on": False}), Side.OCF)
    received = await sim.device.next_received()
    assert dict(received.values) == {"on": False}


async def test_brightness_is_scaled_to_the_alljoyn_range(
        make_sim: SimFactory, make_side: SideFactory, registry: Registry) -> None:
    sim = await make_sim("light", "Lamp")
    await make_side()
    thing = lamp(registry)
    answer = await registry.command(thing.id, SetProperties("brightness", {"brightness": 40}),
                                    Side.MQTT)
    assert answer == {"brightness": 40}
    received = await sim.device.next_received()
    assert dict(received.values) == {"brightness": 40}
    with pytest.raises(OutOfRange, match=r"0\.\.100"):
        await registry.command(thing.id, SetProperties("brightness", {"brightness": 140}),
                               Side.MQTT)
    assert sim.device.received_log[-1].values == {"brightness": 40}


async def test_device_error_keeps_its_code(make_sim: SimFactory, make_side: SideFactory,
                                           registry: Registry) -> None:
    sim = await make_sim("light", "Lamp")
    await make_side()
    thing = lamp(registry)
    sim.fail_with(403, "the lamp is locked")
    with pytest.raises(DeviceError) as caught:
        await registry.command(thing.id, SetProperties("brightness", {"brightness": 10}),
                               Side.MQTT)
    assert (caught.value.code, caught.value.message) == (403, "the lamp is locked")


async def test_refresh_reads_the_device(make_sim: SimFactory, make_side: SideFactory,
                                        registry: Registry) -> None:
    sim = await make_sim("light", "Lamp")
    await make_side()
    thing = lamp(registry)
    sim.device.state["brightness"]["brightness"] = 91  # behind the gateway's back: no signal
    assert await registry.refresh(thing.id, "brightness") == {"brightness": 91}


@pytest.fixture
def sim_process(dbus_daemon: DBusDaemon) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge.sim.alljoyn_cli", "--bus", dbus_daemon.address,
         "--model", "light", "--name", "Frozen"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    assert ready["event"] == "ready"
    yield proc, ready
    os.kill(proc.pid, signal.SIGCONT)
    stop_process(proc)


async def test_device_that_stops_answering_mid_call_times_out(
        sim_process: tuple[subprocess.Popen[str], dict[str, str]], make_side: SideFactory,
        registry: Registry) -> None:
    proc, _ = sim_process
    await make_side()
    thing = lamp(registry)
    os.kill(proc.pid, signal.SIGSTOP)  # still on the bus, never answers again
    try:
        with pytest.raises(DeviceTimeout, match="no answer within 2 s"):
            await registry.command(thing.id, SetProperties("switch", {"on": True}), Side.MQTT)
    finally:
        os.kill(proc.pid, signal.SIGCONT)  # so that the fixture's SIGTERM stops it at once
