"""Issue 5 point 1: ``ocfaj run`` keeps running when a part cannot start or dies: the OCF side
works while the AllJoyn bus is missing, the AllJoyn side comes up (restarted with backoff) once
the bus exists and again after the bus restarts, and SIGINT stops everything with status 0."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from aiocoap import Context

from tests.e2e.alljoyn_consumer import Consumer
from tests.e2e.conftest import Rig
from tests.e2e.waiting import is_virtual, wait_devices
from tests.harness.dbus import DBusDaemon

#: The supervisor's backoff doubles from 1 s; a few attempts fit in this.
RESTART_WITHIN = 30.0


async def test_alljoyn_side_comes_up_late_and_after_bus_restart(rig: Rig,
                                                                coap: Context) -> None:
    late = DBusDaemon(rig.tmp / "late-bus")
    try:
        await rig.ocf_sim("Lamp", "light")
        gateway = await rig.start_gateway("gw", bus=late.address)
        # The AllJoyn side reconnects on its own; the control interface (same bus) is a part
        # the supervisor restarts with backoff.
        await _wait_log(gateway.log, "AllJoyn: cannot connect", rig)
        assert "control failed to start" in gateway.log(), gateway.log()
        # The OCF side works meanwhile: the gateway's bridge device answers discovery and the
        # lamp is found.
        await wait_devices(coap, lambda named: any(info.get("n") == "gw" and not is_virtual(info)
                                                   for _, info in named),
                           rig, "the gateway's bridge device")
        await _wait_log(gateway.log, "found ocf device Lamp", rig)

        late.start()
        consumer = await Consumer.connect(late.address)
        try:
            app = await consumer.wait_app("Lamp", virtual=True, within=RESTART_WITHIN)
        finally:
            consumer.close()
        assert "bridging Lamp" in gateway.log()
        await _wait_log(gateway.log, "control started", rig, within=RESTART_WITHIN)

        # The bus goes away and comes back: the AllJoyn side dies, is restarted, and exports
        # the lamp again; the OCF side never stopped.
        late.restart()
        consumer = await Consumer.connect(late.address)
        try:
            again = await consumer.wait_app("Lamp", virtual=True, within=RESTART_WITHIN)
            assert again.app_id == app.app_id
            assert gateway.process is not None
            gateway.process.send_signal(signal.SIGINT)
            status = await asyncio.to_thread(gateway.process.wait, 20)
            assert status == 0, gateway.log()
            await consumer.wait_gone(again.unique_name)
        finally:
            consumer.close()
        assert "gateway gw stopped" in gateway.log()
    finally:
        late.stop()


async def test_ocf_side_works_without_any_bus(rig: Rig, coap: Context) -> None:
    """A bus that never appears: the virtual OCF side and discovery still serve clients."""
    await rig.ocf_sim("Lamp", "light")
    gateway = await rig.start_gateway("gw", bus=f"unix:path={rig.tmp / 'no-bus'}")
    await _wait_log(gateway.log, "bridging Lamp", rig)
    await wait_devices(coap, lambda named: {info.get("n") for _, info in named} >= {"gw", "Lamp"},
                       rig, "the bridge device and the lamp")
    await _wait_log(gateway.log, "control failed to start", rig)
    assert gateway.stop() == 0


async def _wait_log(log: Callable[[], str], text: str, rig: Rig, within: float = 20.0) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        content = log()
        if text in content:
            return content
        await asyncio.sleep(0.1)
    raise AssertionError(f"the log never said {text!r}\n{rig.logs()}")
