"""dbus-daemon restarted under a running gateway (issue 9 point 2): within 5 s of the bus
being back, every virtual AllJoyn producer is exported again, and the gateway's About consumer
finds the AllJoyn devices on the new bus (bridged to OCF again)."""

from __future__ import annotations

import asyncio

from aiocoap import Context

from tests.e2e.alljoyn_consumer import Consumer
from tests.e2e.conftest import Rig
from tests.e2e.ocf_client import dotted, request
from tests.e2e.waiting import virtual_ocf_device

#: issue 9: "everything re-exported within 5 s" of the bus being back.
REEXPORT_TIME = 5.0


async def test_everything_is_reexported_after_a_bus_restart(rig: Rig, coap: Context) -> None:
    await rig.ocf_sim("Lamp", "light")
    await rig.start_gateway()
    before = await Consumer.connect(rig.dbus.address)
    try:
        app = await before.wait_app("Lamp", virtual=True)
    finally:
        before.close()

    await asyncio.to_thread(rig.dbus.restart)
    consumer = await Consumer.connect(rig.dbus.address)
    try:
        again = await consumer.wait_app("Lamp", virtual=True, within=REEXPORT_TIME)
        assert (again.app_id, again.device_id) == (app.app_id, app.device_id), rig.logs()
        # An AllJoyn device on the new bus is found and bridged to OCF.
        await rig.alljoyn_sim("Thermo", "thermostat")
        device = await virtual_ocf_device(coap, "Thermo", rig)
        assert dotted(await request(coap, "GET", device.uri("oic.r.temperature"))) == "2.05"
    finally:
        consumer.close()
