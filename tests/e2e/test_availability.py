"""Issue 5 point 5: a device that leaves its side is withdrawn (AllJoyn) or marked unavailable
(OCF: its resources answer 5.03) on the other side within the configured detection time, and
returns with the same identity."""

from __future__ import annotations

import asyncio

from aiocoap import Context

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.alljoyn_consumer import ON_OFF_STATUS, Consumer
from tests.e2e.conftest import DETECTION_TIME, THERMOSTAT
from tests.e2e.ocf_client import body, dotted, request
from tests.e2e.waiting import virtual_ocf_device

#: Slack over the configured detection time: a discovery round's reply window and one
#: request within (2 s) may pass before the gateway acts on a missed round.
MARGIN = 4.0


async def test_ocf_device_leaves_and_returns_with_fresh_di(
        ocf_device: DeviceFactory, gateway_factory: TestGateways, consumer: Consumer) -> None:
    lamp = ocf_device("light", "Lamp")
    first = lamp.facts
    await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    app = await consumer.wait_app("Lamp", virtual=True)

    await asyncio.to_thread(lamp.leave)
    await consumer.wait_gone(app.unique_name, within=DETECTION_TIME + MARGIN)
    assert "Lamp" not in [a.name for a in await consumer.scan()], gateway_factory.logs()

    back = await asyncio.to_thread(lamp.come_back)
    assert back["di"] != first["di"]
    again = await consumer.wait_app("Lamp", virtual=True, within=DETECTION_TIME + MARGIN)
    assert (again.app_id, again.device_id) == (app.app_id, app.device_id), gateway_factory.logs()
    # The returned device is live again through its virtual copy.
    await asyncio.to_thread(lamp.set, "switch", {"on": True})
    await consumer.wait_change(again.unique_name, ON_OFF_STATUS, "IsOn", True)


async def test_alljoyn_device_leaves_and_returns(
        alljoyn_device: DeviceFactory, gateway_factory: TestGateways, coap: Context) -> None:
    thermo = alljoyn_device(THERMOSTAT, "Thermo")
    await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    device = await virtual_ocf_device(coap, "Thermo", gateway_factory)
    uri = device.uri("oic.r.temperature")
    assert dotted(await request(coap, "GET", uri)) == "2.05"

    await asyncio.to_thread(thermo.leave)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DETECTION_TIME + MARGIN
    code = ""
    while loop.time() < deadline and code != "5.03":
        code = dotted(await request(coap, "GET", uri))
        await asyncio.sleep(0.1)
    assert code == "5.03", f"still {code} after the device left\n{gateway_factory.logs()}"

    await asyncio.to_thread(thermo.come_back)
    deadline = loop.time() + DETECTION_TIME + MARGIN
    while loop.time() < deadline and code != "2.05":
        code = dotted(await request(coap, "GET", uri))
        await asyncio.sleep(0.1)
    assert code == "2.05", f"still {code} after the device returned\n{gateway_factory.logs()}"
    returned = await virtual_ocf_device(coap, "Thermo", gateway_factory)
    assert returned.di == device.di
    assert body(await request(coap, "GET", returned.base + "/oic/d"))["di"] == device.di
