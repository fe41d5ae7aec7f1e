"""The access policy of the configuration, enforced by a real gateway on every side (issue 9
point 4). One gateway, four simulated devices, rules of every kind:

- ``deny`` by name pattern: "Secret Lamp" crosses nowhere (no virtual AllJoyn app, no MQTT);
- ``deny`` on one side only: "Hidden Thermo" is not a virtual OCF device but is on MQTT;
- ``read_only`` by name: "Lamp" (OCF) and "Thermo" (AllJoyn) cross, but an AllJoyn method,
  an OCF POST (4.03) and an MQTT ``/set`` (response with ``not_allowed``) are refused;
- ``deny`` by resource type: no device exposes brightness anywhere.

Nothing refused reaches a simulated device: their ``received`` events stay empty.
"""

from __future__ import annotations

import asyncio
import json

import aiomqtt
from aiocoap import Context
from dbus_fast import MessageType

from bridge.sim.processes import GatewayProcess
from bridge.sim.testing.mosquitto import Mosquitto
from tests.e2e.alljoyn_consumer import BRIGHTNESS, ON_CONTROL, ON_OFF_STATUS, Consumer
from tests.e2e.conftest import GRACE_PERIOD, Rig, gateway_config
from tests.e2e.ocf_client import dotted, request
from tests.e2e.waiting import is_virtual, virtual_ocf_device, wait_devices
from tests.mqtt.conftest import Recorder

POLICY = """
[policy]
default = "allow"

[[policy.rules]]
action = "deny"
name = "Secret*"

[[policy.rules]]
action = "deny"
side = "ocf"
name = "Hidden*"

[[policy.rules]]
action = "deny"
resource_type = "oic.r.light.brightness"

[[policy.rules]]
action = "read_only"
name = "Lamp"

[[policy.rules]]
action = "read_only"
name = "Thermo"
"""


def local_gateway(rig: Rig, broker: Mosquitto, extra: str = "") -> GatewayProcess:
    """A gateway in the test's own namespace, on ``ocfbr0``: the broker listens on this
    namespace's loopback, which the rig's per-host namespaces cannot reach."""
    text = gateway_config("gw", rig.state_dir("gw"), rig.dbus.address, {
        "ocf": {"interfaces": ["ocfbr0"]},
        "mqtt": {"enabled": True, "host": broker.host, "port": broker.port,
                 "ha_discovery": False, "reconnect_max_delay": 1.0}})
    gateway = GatewayProcess(text + extra, rig.tmp, name="gw")
    rig.gateways.append(gateway)
    return gateway


async def test_policy_rules_hold_on_every_side(rig: Rig, consumer: Consumer, coap: Context,
                                               mosquitto: Mosquitto) -> None:
    recorder = await Recorder(mosquitto.host, mosquitto.port).start()
    lamp = await rig.ocf_sim("Lamp", "light")
    secret = await rig.ocf_sim("Secret Lamp", "light", host="secret")
    thermo = await rig.alljoyn_sim("Thermo", "thermostat")
    hidden = await rig.alljoyn_sim("Hidden Thermo", "thermostat")
    gateway = local_gateway(rig, mosquitto, POLICY)
    await asyncio.to_thread(gateway.start, 30.0)
    try:
        # AllJoyn side: the read-only lamp is there, without brightness; the secret one not.
        app = await consumer.wait_app("Lamp", virtual=True)
        assert not any(BRIGHTNESS in i for i in app.objects.values()), app.objects
        await recorder.wait_for(lambda: bool(recorder.under("ocfaj/thermo")), 20,
                                "Thermo on MQTT")
        await asyncio.sleep(GRACE_PERIOD + 2)  # a discovery round more for the denied ones
        names = [(a.name, a.virtual) for a in await consumer.scan()]
        assert ("Secret Lamp", True) not in names, names

        # OCF side: Thermo is a virtual device, Hidden Thermo is not (denied on OCF only).
        device = await virtual_ocf_device(coap, "Thermo", rig)
        named = await wait_devices(coap, lambda n: any(i.get("n") == "Thermo" for _, i in n),
                                   rig, "Thermo")
        assert not [i for _, i in named if i.get("n") == "Hidden Thermo" and is_virtual(i)]

        # MQTT: Hidden Thermo is mirrored there, Secret Lamp nowhere, no brightness anywhere.
        await recorder.wait_for(lambda: bool(recorder.under("ocfaj/hidden_thermo"))
                                and recorder.last("ocfaj/lamp") is not None, 20,
                                "Hidden Thermo and Lamp on MQTT")
        topics = {m.topic for m in recorder.messages}
        assert any(t.startswith("ocfaj/hidden_thermo") for t in topics), sorted(topics)
        assert not any("secret" in t for t in topics), sorted(topics)
        lamp_state = recorder.last("ocfaj/lamp")
        assert lamp_state is not None and "brightness" not in lamp_state.json()

        # Read-only, refused on every side in that side's own error form.
        reply = await consumer.invoke(app, ON_CONTROL, "SwitchOn")
        assert reply.message_type is MessageType.ERROR, rig.logs()
        assert reply.error_name, reply
        target = next(link for link in device.links
                      if "oic.r.temperature" in link.get("rt", [])
                      and "oic.if.a" in link.get("if", []))
        uri = device.base + target["href"]
        answer = await request(coap, "POST", uri, {"temperature": 22.0})
        assert dotted(answer) == "4.03", (dotted(answer), answer.payload)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            await client.publish("ocfaj/lamp/set", b'{"switch": {"on": true}}', qos=1)
            await client.publish("ocfaj/thermo/set",
                                 json.dumps({"target_temperature": {"target_temperature": 22.0}}
                                            ).encode(), qos=1)
        await recorder.wait_for(lambda: len(recorder.on("ocfaj/bridge/response/set")) >= 2, 10,
                                "two /set responses")
        for response in recorder.on("ocfaj/bridge/response/set"):
            answer_doc = response.json()
            assert answer_doc["status"] == "error", answer_doc
            assert answer_doc["data"]["reason"] == "not_allowed", answer_doc
        # The reads still work: read-only means visible, not dark.
        assert await consumer.get(app, ON_OFF_STATUS, "IsOn") is False
        await asyncio.sleep(0.5)
        for sim in (lamp, secret, thermo, hidden):
            assert sim.received() == [], sim.received()
    finally:
        await recorder.stop()
