"""Home Assistant discovery: valid documents for every capability, re-sent, renamed, removed."""

from __future__ import annotations

import aiomqtt

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.mqtt.hass import node_id
from bridge.sim.testing.mosquitto import Mosquitto
from tests.mqtt.conftest import Recorder, SideFactory, drained
from tests.mqtt.hass_schema import problems
from tests.mqtt.things import counter, lamp, model_cap, ocf_thing, sensor

GATEWAY_ID = "ocfaj_gateway_test_gw"


def configs(rec: Recorder, node: str) -> dict[str, dict[str, object]]:
    """Newest non-empty discovery config per topic of one node, keyed by component/object."""
    found: dict[str, dict[str, object]] = {}
    for m in rec.under("homeassistant/"):
        parts = m.topic.split("/")
        if len(parts) == 5 and parts[2] == node:
            key = f"{parts[1]}/{parts[3]}"
            if m.payload:
                found[key] = m.json()
            else:
                found.pop(key, None)
    return found


async def test_every_capability_gets_a_valid_entity(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook) -> None:
    light = registry.upsert(lamp(catalogue, book))
    hall = registry.upsert(sensor(catalogue, book))
    gadget = registry.upsert(ocf_thing(book, 4, "Front Door", [
        model_cap(catalogue, "lock", state={"locked": True}),
        model_cap(catalogue, "contact", state={"open": False}),
        model_cap(catalogue, "target_temperature", state={"target_temperature": 20.0}),
        model_cap(catalogue, "power_meter", state={"power": 3.5, "energy": 1.25}),
        model_cap(catalogue, "switch", state={"on": True}),
        model_cap(catalogue, "switch", "switch_2", state={"on": False}),
    ], device_type="oic.d.smartlock"))
    gen = registry.upsert(counter(book))
    side = await side_factory(mosquitto)
    await drained(side)

    # The broker acknowledged every document; the recorder gets them a little later, in no
    # order the test may rely on: wait for the last of each device and the gateway's own.
    expected = {gen.id: 2, light.id: 1, hall.id: 4, gadget.id: 7}
    await recorder.wait_for(lambda: all(len(configs(recorder, node_id(thing))) == count
                                        for thing, count in expected.items())
                            and recorder.last(f"homeassistant/binary_sensor/{GATEWAY_ID}"
                                              "/connection_state/config") is not None)
    every = [m for m in recorder.under("homeassistant/") if m.payload]
    for m in every:
        assert (m.qos, m.retain) == (1, True), m.topic
        component = m.topic.split("/")[1]
        assert problems(component, m.json()) == [], (m.topic, problems(component, m.json()))

    lamp_cfg = configs(recorder, node_id(light.id))
    assert set(lamp_cfg) == {"light/light"}
    cfg = lamp_cfg["light/light"]
    assert cfg["schema"] == "json" and cfg["supported_color_modes"] == ["hs"]
    assert cfg["brightness_scale"] == 100
    assert cfg["state_topic"] == "ocfaj/kitchen_lamp/light"
    assert cfg["command_topic"] == "ocfaj/kitchen_lamp/light/set"
    assert cfg["unique_id"] == f"{node_id(light.id)}_light"
    assert cfg["availability"] == [
        {"topic": "ocfaj/bridge/state", "value_template": "{{ value_json.state }}"},
        {"topic": "ocfaj/kitchen_lamp/availability", "value_template": "{{ value_json.state }}"}]
    assert cfg["availability_mode"] == "all"
    assert cfg["device"] == {"identifiers": [node_id(light.id)], "name": "kitchen_lamp",
                             "manufacturer": "Acme", "model": "Kitchen Lamp model",
                             "sw_version": "1.2.3", "via_device": GATEWAY_ID}

    hall_cfg = configs(recorder, node_id(hall.id))
    assert set(hall_cfg) == {"sensor/temperature_temperature", "sensor/humidity_humidity",
                             "binary_sensor/motion_motion", "sensor/battery_charge"}
    temp = hall_cfg["sensor/temperature_temperature"]
    assert (temp["device_class"], temp["unit_of_measurement"], temp["state_class"]) == (
        "temperature", "°C", "measurement")
    assert temp["value_template"] == '{{ value_json["temperature"]["temperature"] }}'
    motion = hall_cfg["binary_sensor/motion_motion"]
    assert motion["device_class"] == "motion"

    door = configs(recorder, node_id(gadget.id))
    assert set(door) == {"lock/lock_locked", "binary_sensor/contact_open",
                         "number/target_temperature_target_temperature",
                         "sensor/power_meter_power", "sensor/power_meter_energy",
                         "switch/switch_on", "switch/switch_2_on"}
    assert door["lock/lock_locked"]["payload_lock"] == '{"lock":{"locked":true}}'
    assert door["switch/switch_2_on"]["payload_off"] == '{"switch_2":{"on":false}}'
    number = door["number/target_temperature_target_temperature"]
    assert (number["min"], number["max"], number["device_class"]) == (5.0, 35.0, "temperature")
    assert door["sensor/power_meter_energy"]["state_class"] == "total_increasing"

    generic = configs(recorder, node_id(gen.id))
    assert set(generic) == {"sensor/counter_count", "sensor/counter_label"}

    gateway = recorder.last(f"homeassistant/binary_sensor/{GATEWAY_ID}/connection_state/config")
    assert gateway is not None and problems("binary_sensor", gateway.json()) == []
    assert gateway.json()["device"]["identifiers"] == [GATEWAY_ID]


async def test_discovery_is_resent_when_home_assistant_comes_online(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook) -> None:
    light = registry.upsert(lamp(catalogue, book))
    side = await side_factory(mosquitto)
    await drained(side)
    topic = f"homeassistant/light/{node_id(light.id)}/light/config"
    await recorder.wait_for(lambda: len(recorder.on(topic)) == 1)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as ha:
        await ha.publish("homeassistant/status", b"offline")
        await ha.publish("homeassistant/status", b"online")
    await recorder.wait_for(lambda: len(recorder.on(topic)) == 2)
    first, again = recorder.on(topic)
    assert again.payload == first.payload and again.retain


async def test_rename_keeps_the_entity_and_moves_the_topics(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook) -> None:
    hall = registry.upsert(sensor(catalogue, book))
    side = await side_factory(mosquitto)
    await drained(side)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.publish("ocfaj/bridge/request/rename",
                             b'{"from": "hall_sensor", "to": "Hallway", "transaction": 5}')
    response = await recorder.wait_last("ocfaj/bridge/response/rename", {
        "status": "ok", "data": {"id": hall.id, "from": "hall_sensor", "to": "Hallway"},
        "error": None, "transaction": 5})
    assert (response.qos, response.retain) == (1, False)
    await recorder.wait_last("ocfaj/Hallway/availability", {"state": "online"})
    await recorder.wait_for(lambda: (recorder.last("ocfaj/hall_sensor") or _FULL).payload == b"")
    temp = configs(recorder, node_id(hall.id))["sensor/temperature_temperature"]
    assert temp["state_topic"] == "ocfaj/Hallway"
    assert temp["unique_id"] == f"{node_id(hall.id)}_temperature_temperature"
    # Persisted: the identity book hands out the new name from now on.
    assert book.friendly_name(hall.id, "whatever") == "Hallway"


async def test_config_names_override_and_cannot_be_renamed(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook) -> None:
    hall = registry.upsert(sensor(catalogue, book))
    side = await side_factory(mosquitto, names={hall.identity.piid: "Hall"})
    await drained(side)
    await recorder.wait_last("ocfaj/Hall/availability", {"state": "online"})
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        await client.publish("ocfaj/bridge/request/rename", b'{"from": "Hall", "to": "Other"}')
    await recorder.wait_for(lambda: bool(recorder.on("ocfaj/bridge/response/rename")))
    [response] = recorder.on("ocfaj/bridge/response/rename")
    assert response.json()["status"] == "error"
    assert "[mqtt.names]" in response.json()["error"]


class _Full:
    payload = b"x"


_FULL = _Full()
