"""Home Assistant discovery: valid documents for every capability, re-sent, renamed, removed."""

from __future__ import annotations

from datetime import UTC, datetime

import aiomqtt

from bridge import DOCUMENTATION_URL, __version__
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
    expected = {gen.id: 4, light.id: 2, hall.id: 6, gadget.id: 8}
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
    assert set(lamp_cfg) == {"light/light", "sensor/last_seen"}
    cfg = lamp_cfg["light/light"]
    assert cfg["schema"] == "json" and cfg["supported_color_modes"] == ["hs"]
    assert cfg["brightness_scale"] == 100
    assert cfg["state_topic"] == "ocfaj/kitchen_lamp/light"
    assert cfg["command_topic"] == "ocfaj/kitchen_lamp/light/set"
    assert cfg["unique_id"] == f"{node_id(light.id)}_light"
    # A cleared (empty) availability topic reads as offline, never as a template error.
    available = "{{ value_json.state if value_json is defined else 'offline' }}"
    assert cfg["availability"] == [
        {"topic": "ocfaj/bridge/state", "value_template": available},
        {"topic": "ocfaj/kitchen_lamp/availability", "value_template": available}]
    assert cfg["availability_mode"] == "all"
    # The device's own name for people; entity ids from the friendly name.
    assert cfg["device"] == {"identifiers": [node_id(light.id)], "name": "Kitchen Lamp",
                             "manufacturer": "Acme", "model": "Kitchen Lamp model",
                             "model_id": "Kitchen Lamp model", "sw_version": "1.2.3",
                             "via_device": GATEWAY_ID}
    assert (cfg["object_id"], cfg["default_entity_id"]) == ("kitchen_lamp", "light.kitchen_lamp")
    assert cfg["origin"]["name"] == "ocfaj (Home Assistant 2025.2 or later)"
    assert cfg["origin"]["support_url"] == DOCUMENTATION_URL
    seen = lamp_cfg["sensor/last_seen"]
    assert (seen["device_class"], seen["entity_category"], seen["enabled_by_default"]) == (
        "timestamp", "diagnostic", False)
    assert seen["state_topic"] == "ocfaj/kitchen_lamp/last_seen"

    hall_cfg = configs(recorder, node_id(hall.id))
    assert set(hall_cfg) == {"sensor/temperature_temperature", "sensor/humidity_humidity",
                             "binary_sensor/motion_motion", "sensor/battery_charge",
                             "binary_sensor/battery_charging", "sensor/last_seen"}
    assert hall_cfg["sensor/battery_charge"]["entity_category"] == "diagnostic"
    charging = hall_cfg["binary_sensor/battery_charging"]
    assert (charging["device_class"], charging["entity_category"]) == ("battery_charging",
                                                                       "diagnostic")
    assert hall_cfg["sensor/temperature_temperature"]["default_entity_id"] == (
        "sensor.hall_sensor_temperature")
    assert "entity_category" not in hall_cfg["sensor/temperature_temperature"]
    temp = hall_cfg["sensor/temperature_temperature"]
    assert (temp["device_class"], temp["unit_of_measurement"], temp["state_class"]) == (
        "temperature", "°C", "measurement")
    assert temp["value_template"] == (
        '{% if value_json is defined %}{{ value_json["temperature"]["temperature"] }}{% endif %}')
    motion = hall_cfg["binary_sensor/motion_motion"]
    assert motion["device_class"] == "motion"

    door = configs(recorder, node_id(gadget.id))
    assert set(door) == {"lock/lock_locked", "binary_sensor/contact_open", "climate/climate",
                         "sensor/power_meter_power", "sensor/power_meter_energy",
                         "switch/switch_on", "switch/switch_2_on", "sensor/last_seen"}
    assert door["lock/lock_locked"]["payload_lock"] == '{"lock":{"locked":true}}'
    assert door["switch/switch_2_on"]["payload_off"] == '{"switch_2":{"on":false}}'
    climate = door["climate/climate"]
    assert (climate["min_temp"], climate["max_temp"], climate["temp_step"]) == (5.0, 35.0, 0.5)
    assert climate["temperature_command_topic"] == "ocfaj/front_door/set"
    assert climate["temperature_command_template"] == (
        '{"target_temperature": {"target_temperature": {{ value }}}}')
    assert climate["modes"] == ["heat"] and "current_temperature_topic" not in climate
    assert door["sensor/power_meter_energy"]["state_class"] == "total_increasing"

    generic = configs(recorder, node_id(gen.id))
    assert set(generic) == {"sensor/counter_count", "sensor/counter_label",
                            "event/counter_event", "sensor/last_seen"}
    event = generic["event/counter_event"]
    assert (event["event_types"], event["state_topic"]) == (["Tick"], "ocfaj/counter/event")

    for component, object_id in (("binary_sensor", "connection_state"), ("sensor", "version"),
                                 ("sensor", "device_count"), ("select", "log_level"),
                                 ("button", "refresh_discovery")):
        gateway = recorder.last(f"homeassistant/{component}/{GATEWAY_ID}/{object_id}/config")
        assert gateway is not None, object_id
        assert problems(component, gateway.json()) == [], object_id
        assert gateway.json()["device"]["identifiers"] == [GATEWAY_ID]


async def test_every_device_block_links_the_web_page(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook) -> None:
    # Without a link (no web page, or none a person could open) the key is absent (the test
    # above compares a whole device block); with one, every device and the gateway have it.
    light = registry.upsert(lamp(catalogue, book))
    hall = registry.upsert(sensor(catalogue, book))
    page = "http://gateway.lan:8080/"
    side = await side_factory(mosquitto, configuration_url=page)
    await drained(side)
    await recorder.wait_for(lambda: len(configs(recorder, node_id(light.id))) == 2
                            and len(configs(recorder, node_id(hall.id))) == 6
                            and len(configs(recorder, GATEWAY_ID)) == 5)
    for node in (node_id(light.id), node_id(hall.id), GATEWAY_ID):
        for key, cfg in configs(recorder, node).items():
            device = cfg["device"]
            assert isinstance(device, dict) and device["configuration_url"] == page, key
            assert cfg["origin"] == {"name": "ocfaj (Home Assistant 2025.2 or later)",
                                     "sw_version": __version__, "support_url":
                                     DOCUMENTATION_URL}, key
            assert problems(key.split("/")[0], cfg) == [], key


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
    # The name people read and the entity ids follow the rename; the discovery was cleared
    # first, so Home Assistant makes the entities again under the new ids.
    assert temp["device"]["name"] == "Hallway"
    assert temp["default_entity_id"] == "sensor.hallway_temperature"
    topic = f"homeassistant/sensor/{node_id(hall.id)}/temperature_temperature/config"
    assert [bool(m.payload) for m in recorder.on(topic)] == [True, False, True]
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


async def test_last_seen_follows_what_the_device_reports(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook) -> None:
    hall = registry.upsert(sensor(catalogue, book))
    side = await side_factory(mosquitto)
    await drained(side)
    assert recorder.on("ocfaj/hall_sensor/last_seen") == []  # nothing heard yet
    before = datetime.now(UTC).replace(microsecond=0)
    registry.update_state(hall.id, "temperature", {"temperature": 22.0})
    await recorder.wait_for(lambda: bool(recorder.on("ocfaj/hall_sensor/last_seen")))
    [seen] = recorder.on("ocfaj/hall_sensor/last_seen")
    assert seen.retain
    stamp = datetime.fromisoformat(seen.json()["last_seen"])
    assert stamp.tzinfo is not None and before <= stamp <= datetime.now(UTC)


async def test_last_seen_is_published_once_per_second_it_changes(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook) -> None:
    # Each reading reaches the broker before the next (no coalescing in the outbox between
    # them); the last_seen document, to the second, is published only when its text changes.
    hall = registry.upsert(sensor(catalogue, book))
    side = await side_factory(mosquitto)
    await drained(side)
    for i in range(30):
        registry.update_state(hall.id, "temperature", {"temperature": 20.0 + i})
        await recorder.wait_for(lambda i=i: any(
            m.json().get("temperature", {}).get("temperature") == 20.0 + i
            for m in recorder.on("ocfaj/hall_sensor")))
    stamps = [m.json()["last_seen"] for m in recorder.on("ocfaj/hall_sensor/last_seen")]
    assert stamps, "no last_seen published"
    assert len(stamps) == len(set(stamps)), f"the same last_seen published again: {stamps}"
    assert stamps == sorted(stamps)
