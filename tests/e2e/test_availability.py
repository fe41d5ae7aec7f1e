"""Issue 5 point 5: a device that leaves its side is withdrawn (AllJoyn) or marked unavailable
(OCF: its resources answer 5.03) on the other side within the configured detection time, and
returns with the same identity."""

from __future__ import annotations

import asyncio

from aiocoap import Context

from tests.e2e.alljoyn_consumer import ON_OFF_STATUS, Consumer
from tests.e2e.conftest import DETECTION_TIME, Rig
from tests.e2e.ocf_client import body, dotted, request
from tests.e2e.waiting import virtual_ocf_device

#: Slack over the configured detection time: a discovery round's reply window and one
#: request within (2 s) may pass before the gateway acts on a missed round.
MARGIN = 4.0


async def test_ocf_device_leaves_and_returns_with_fresh_di(rig: Rig,
                                                           consumer: Consumer) -> None:
    lamp = await rig.ocf_sim("Lamp", "light")
    await rig.start_gateway()
    app = await consumer.wait_app("Lamp", virtual=True)

    lamp.send({"cmd": "leave", "device": "Lamp"})
    await asyncio.to_thread(lamp.wait_event, lambda e: e.get("event") == "left")
    await consumer.wait_gone(app.unique_name, within=DETECTION_TIME + MARGIN)
    assert "Lamp" not in [a.name for a in await consumer.scan()], rig.logs()

    lamp.send({"cmd": "return", "device": "Lamp"})
    back = await asyncio.to_thread(lamp.wait_event, lambda e: e.get("event") == "ready")
    assert back["di"] != lamp.events[0]["di"]
    again = await consumer.wait_app("Lamp", virtual=True, within=DETECTION_TIME + MARGIN)
    assert (again.app_id, again.device_id) == (app.app_id, app.device_id), rig.logs()
    # The returned device is live again through its virtual copy.
    lamp.set("Lamp", "switch", {"on": True})
    await consumer.wait_change(again.unique_name, ON_OFF_STATUS, "IsOn", True)


async def test_alljoyn_device_leaves_and_returns(rig: Rig, coap: Context) -> None:
    thermo = await rig.alljoyn_sim("Thermo", "thermostat")
    await rig.start_gateway()
    device = await virtual_ocf_device(coap, "Thermo", rig)
    uri = device.uri("oic.r.temperature")
    assert dotted(await request(coap, "GET", uri)) == "2.05"

    thermo.send({"cmd": "leave", "device": "Thermo"})
    await asyncio.to_thread(thermo.wait_event, lambda e: e.get("event") == "left")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DETECTION_TIME + MARGIN
    code = ""
    while loop.time() < deadline and code != "5.03":
        code = dotted(await request(coap, "GET", uri))
        await asyncio.sleep(0.1)
    assert code == "5.03", f"still {code} after the device left\n{rig.logs()}"

    thermo.send({"cmd": "return", "device": "Thermo"})
    await asyncio.to_thread(thermo.wait_event, lambda e: e.get("event") == "ready")
    deadline = loop.time() + DETECTION_TIME + MARGIN
    while loop.time() < deadline and code != "2.05":
        code = dotted(await request(coap, "GET", uri))
        await asyncio.sleep(0.1)
    assert code == "2.05", f"still {code} after the device returned\n{rig.logs()}"
    returned = await virtual_ocf_device(coap, "Thermo", rig)
    assert returned.di == device.di
    assert body(await request(coap, "GET", returned.base + "/oic/d"))["di"] == device.di
