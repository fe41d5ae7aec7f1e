"""Issue 5 point 1: ``ocfaj run`` keeps running when a part cannot start or dies: the OCF side
works while the AllJoyn bus is missing, the AllJoyn side comes up (restarted with backoff) once
the bus exists and again after the bus restarts, and SIGINT stops everything with status 0."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

from aiocoap import Context

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.alljoyn_consumer import Consumer
from tests.e2e.waiting import HasLogs, is_virtual, wait_devices

#: The supervisor's backoff doubles from 1 s; a few attempts fit in this.
RESTART_WITHIN = 30.0


async def test_alljoyn_side_comes_up_late_and_after_bus_restart(
        ocf_device: DeviceFactory, gateway_factory: TestGateways, tmp_path: Path,
        coap: Context) -> None:
    late = DBusDaemon(tmp_path / "late-bus")
    try:
        ocf_device("light", "Lamp")
        gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                                          alljoyn={"bus": late.address})
        # The AllJoyn side reconnects on its own; the control interface (same bus) is a part
        # the supervisor restarts with backoff.
        await _wait_log(gateway.log, "AllJoyn: cannot connect", gateway_factory)
        assert "control failed to start" in gateway.log(), gateway.log()
        # The OCF side works meanwhile: the gateway's bridge device answers discovery and the
        # lamp is found.
        await wait_devices(coap, lambda named: any(info.get("n") == "gw" and not is_virtual(info)
                                                   for _, info in named),
                           gateway_factory, "the gateway's bridge device")
        await _wait_log(gateway.log, "found ocf device Lamp", gateway_factory)

        late.start()
        consumer = await Consumer.connect(late.address)
        try:
            app = await consumer.wait_app("Lamp", virtual=True, within=RESTART_WITHIN)
        finally:
            consumer.close()
        assert "bridging Lamp" in gateway.log()
        await _wait_log(gateway.log, "control started", gateway_factory, within=RESTART_WITHIN)

        # The bus goes away and comes back: the AllJoyn side dies, is restarted, and exports
        # the lamp again; the OCF side never stopped.
        late.restart()
        consumer = await Consumer.connect(late.address)
        try:
            again = await consumer.wait_app("Lamp", virtual=True, within=RESTART_WITHIN)
            assert again.app_id == app.app_id
            status = await asyncio.to_thread(gateway.stop, 20.0, sig=signal.SIGINT)
            assert status == 0, gateway.log()
            await consumer.wait_gone(again.unique_name)
        finally:
            consumer.close()
        assert "gateway gw stopped" in gateway.log()
    finally:
        late.stop()


async def test_ocf_side_works_without_any_bus(ocf_device: DeviceFactory,
                                              gateway_factory: TestGateways, tmp_path: Path,
                                              coap: Context) -> None:
    """A bus that never appears: the virtual OCF side and discovery still serve clients."""
    ocf_device("light", "Lamp")
    gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                                      alljoyn={"bus": f"unix:path={tmp_path / 'no-bus'}"})
    await _wait_log(gateway.log, "bridging Lamp", gateway_factory)
    await wait_devices(coap, lambda named: {info.get("n") for _, info in named} >= {"gw", "Lamp"},
                       gateway_factory, "the bridge device and the lamp")
    await _wait_log(gateway.log, "control failed to start", gateway_factory)
    assert gateway.stop() == 0


async def _wait_log(log: Callable[[], str], text: str, gateways: HasLogs,
                    within: float = 20.0) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        content = log()
        if text in content:
            return content
        await asyncio.sleep(0.1)
    raise AssertionError(f"the log never said {text!r}\n{gateways.logs()}")
