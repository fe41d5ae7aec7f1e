"""Real Home Assistant core against the gateway (the demo's run) and a real mosquitto.

Home Assistant 2025.4.4 (``tests.hass.core.VERSION``), or the release ``OCFAJ_HA_VENV`` holds
(``scripts/test-ha VERSION``), reads the gateway's discovery through its MQTT integration; the
test drives it the way a user's automations do, through HA's REST API, and checks the far end:
the simulated device's state as the gateway publishes it after the device answered. The tests
share one Home Assistant and run in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from bridge import __version__
from bridge.core.identity import IdentityBook
from bridge.mqtt.hass import HomeAssistant
from bridge.mqtt.topics import Topics
from bridge.sim.testing.mosquitto import Mosquitto
from tests.e2e.demo_run import DemoRun
from tests.hass.conftest import scenario
from tests.hass.core import HomeAssistantCore
from tests.mqtt.things import counter

# Home Assistant's start (part of the first test's set-up) takes a minute or more on a loaded
# 2-core machine, a gateway restart half of that.
pytestmark = pytest.mark.timeout(420)

BASE = "ocfaj-demo"
LAMP, DIMMER = "light.colour_lamp", "number.dimmer_brightness"
LOCK, THERMOSTAT = "lock.front_door_lock", "climate.living_room_thermostat"
#: entity id -> (device class, unit, state class) Home Assistant must report.
SENSORS = {
    "sensor.hall_sensor_temperature": ("temperature", "°C", "measurement"),
    "sensor.hall_sensor_battery_charge": ("battery", "%", "measurement"),
    "binary_sensor.hall_sensor_motion": ("motion", None, None),
    "binary_sensor.hall_sensor_battery_charging": ("battery_charging", None, None),
    "sensor.living_room_thermostat_temperature": ("temperature", "°C", "measurement"),
}
ENTITIES = {LAMP, DIMMER, LOCK, THERMOSTAT, *SENSORS}


def _environment(tmp_path: Path, broker: Mosquitto) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCFAJ_")}
    return {**env, "OCFAJ_MQTT_HOST": broker.host, "OCFAJ_MQTT_PORT": str(broker.port),
            "OCFAJ_CONFIG": str(tmp_path / "absent.toml")}


async def _retained(broker: Mosquitto, topic: str) -> Any:
    """The retained document on ``topic`` (None when there is none)."""
    marker = f"test/marker/{uuid.uuid4()}"
    found: Any = None
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        await client.subscribe(marker, qos=1)
        await client.publish(marker, b"end", qos=1)
        async with asyncio.timeout(20):
            async for message in client.messages:
                if str(message.topic) == marker:
                    return found
                assert isinstance(message.payload, bytes | bytearray)
                found = json.loads(message.payload) if message.payload else None
    raise AssertionError("the marker never came back")


def device_state(broker: Mosquitto, name: str) -> dict[str, Any]:
    state = asyncio.run(_retained(broker, f"{BASE}/{name}"))
    assert isinstance(state, dict), (name, state)
    return state


def wait_device(broker: Mosquitto, name: str, predicate: Any, what: str,
                within: float = 30.0) -> dict[str, Any]:
    """Poll the gateway's state of device ``name`` until ``predicate`` holds."""
    deadline = time.monotonic() + within
    while True:
        state = device_state(broker, name)
        if predicate(state):
            return state
        assert time.monotonic() < deadline, f"{name}: no {what} within {within} s: {state}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, ha_broker: Mosquitto,
            home_assistant: HomeAssistantCore) -> Iterator[dict[str, Any]]:
    """The demo's gateway and devices, running; ``run`` is replaced when a test restarts it."""
    env = _environment(tmp_path_factory.mktemp("demo"), ha_broker)
    holder: dict[str, Any] = {"env": env}
    holder["run"] = DemoRun(["--plain", "--scenario", str(scenario())], env).start()
    holder["started"] = time.monotonic()
    yield holder
    run: DemoRun = holder["run"]
    run.interrupt()
    run.finish()


def _all_there(ha: HomeAssistantCore) -> dict[str, dict[str, Any]] | None:
    states = ha.states()
    ready = all(e in states and states[e]["state"] not in ("unavailable", "unknown")
                for e in ENTITIES)
    return states if ready else None


def test_entities_exist_with_their_classes(home_assistant: HomeAssistantCore,
                                           gateway: dict[str, Any]) -> None:
    states = home_assistant.wait_for(lambda: _all_there(home_assistant), "every entity", 90)
    print(f"entities in Home Assistant {time.monotonic() - gateway['started']:.1f} s after "
          "the demo started (its devices start first)")
    mqtt_entities = set(json.loads(home_assistant.template(
        "{{ integration_entities('mqtt') | list | to_json }}")))
    assert ENTITIES <= mqtt_entities, ENTITIES - mqtt_entities
    for entity, (device_class, unit, state_class) in SENSORS.items():
        attrs = states[entity]["attributes"]
        assert (attrs.get("device_class"), attrs.get("unit_of_measurement"),
                attrs.get("state_class")) == (device_class, unit, state_class), entity
    lamp = states[LAMP]["attributes"]
    assert set(lamp["supported_color_modes"]) == {"hs", "color_temp"}
    climate = states[THERMOSTAT]["attributes"]
    assert (climate["min_temp"], climate["max_temp"], climate["target_temp_step"]) == (
        5.0, 35.0, 0.5)
    assert climate["hvac_modes"] == ["heat"]
    # Registries: the platform, categories, last seen off until a person turns it on.
    entities = {e["entity_id"]: e for e in home_assistant.ws(
        {"type": "config/entity_registry/list"})}
    assert all(entities[e]["platform"] == "mqtt" for e in ENTITIES)
    for entity in ("sensor.hall_sensor_battery_charge",
                   "binary_sensor.hall_sensor_battery_charging"):
        assert entities[entity]["entity_category"] == "diagnostic", entity
    assert entities["sensor.hall_sensor_temperature"]["entity_category"] is None
    seen = entities["sensor.hall_sensor_last_seen"]
    assert (seen["entity_category"], seen["disabled_by"]) == ("diagnostic", "integration")
    assert "sensor.hall_sensor_last_seen" not in states
    devices = {d["id"]: d for d in home_assistant.ws({"type": "config/device_registry/list"})}
    lock = devices[entities[LOCK]["device_id"]]
    assert lock["name"] == "Front Door" and lock["via_device_id"] is not None
    assert devices[lock["via_device_id"]]["model"] == "OCF / AllJoyn / MQTT gateway"
    # The simulator's /oic/p: mnmn and mnmo (it states no versions).
    assert (lock["manufacturer"], lock["model_id"]) == ("ocfaj simulator", "sim-1"), lock
    # Each device page links the gateway's web page (the demo serves it on loopback).
    run: DemoRun = gateway["run"]
    page = re.search(r"web page at (\S+)", run.output)
    assert page is not None, run.output[-3000:]
    assert lock["configuration_url"] == page.group(1)
    assert devices[lock["via_device_id"]]["configuration_url"] == page.group(1)
    # The gateway's own device.
    assert states["sensor.demo_device_count"]["state"] == "5"
    assert states["sensor.demo_version"]["state"] == __version__
    assert states["select.demo_log_level"]["state"] in ("debug", "info", "warning", "error")
    assert states["binary_sensor.demo_connection_state"]["state"] == "on"


def test_states_match_the_gateway(home_assistant: HomeAssistantCore, ha_broker: Mosquitto,
                                  gateway: dict[str, Any]) -> None:
    states = home_assistant.wait_for(lambda: _all_there(home_assistant), "every entity", 60)
    hall = device_state(ha_broker, "hall_sensor")
    assert float(states["sensor.hall_sensor_temperature"]["state"]) == pytest.approx(
        hall["temperature"]["temperature"])
    assert float(states["sensor.hall_sensor_battery_charge"]["state"]) == hall["battery"]["charge"]
    door = device_state(ha_broker, "front_door")
    assert states[LOCK]["state"] == ("locked" if door["lock"]["locked"] else "unlocked")
    lamp = device_state(ha_broker, "colour_lamp")
    assert states[LAMP]["state"] == ("on" if lamp["switch"]["on"] else "off")
    thermostat = device_state(ha_broker, "living_room_thermostat")
    attrs = states[THERMOSTAT]["attributes"]
    assert attrs["temperature"] == thermostat["target_temperature"]["target_temperature"]


def test_updates_arrive(home_assistant: HomeAssistantCore, gateway: dict[str, Any]) -> None:
    # The thermostat's reading drifts every 2 s at the simulated device.
    first = home_assistant.wait_for(lambda: _all_there(home_assistant), "every entity", 60)[
        THERMOSTAT]["attributes"]["current_temperature"]
    home_assistant.wait_for(
        lambda: home_assistant.states()[THERMOSTAT]["attributes"]["current_temperature"]
        != first, "a new current temperature", 30)


def test_service_calls_reach_the_devices(home_assistant: HomeAssistantCore,
                                         ha_broker: Mosquitto, gateway: dict[str, Any]) -> None:
    ha = home_assistant
    ha.wait_for(lambda: _all_there(ha), "every entity", 60)
    ha.service("light", "turn_on", entity_id=LAMP, brightness_pct=80)
    wait_device(ha_broker, "colour_lamp", lambda s: s["switch"]["on"]
                and s["brightness"]["brightness"] == 80, "switch on at 80 %")
    ha.service("light", "turn_on", entity_id=LAMP, hs_color=[200, 60])
    wait_device(ha_broker, "colour_lamp", lambda s: s["colour"] == {"hue": 200, "saturation": 60}
                or s["colour"] == {"hue": 200.0, "saturation": 60}, "hue 200, saturation 60")
    ha.wait_for(lambda: ha.states()[LAMP]["attributes"].get("color_mode") == "hs", "hs mode")
    ha.service("light", "turn_on", entity_id=LAMP, color_temp_kelvin=4000)
    wait_device(ha_broker, "colour_lamp",
                lambda s: s["colour_temperature"]["colour_temperature"] == 4000, "4000 K")
    ha.wait_for(lambda: ha.states()[LAMP]["attributes"].get("color_temp_kelvin") == 4000,
                "4000 K in Home Assistant")
    ha.service("light", "turn_off", entity_id=LAMP)
    wait_device(ha_broker, "colour_lamp", lambda s: not s["switch"]["on"], "switch off")
    ha.wait_for(lambda: ha.states()[LAMP]["state"] == "off", "the lamp off in Home Assistant")

    ha.service("lock", "unlock", entity_id=LOCK)
    wait_device(ha_broker, "front_door", lambda s: not s["lock"]["locked"], "unlocked")
    ha.wait_for(lambda: ha.states()[LOCK]["state"] == "unlocked", "unlocked in Home Assistant")
    ha.service("lock", "lock", entity_id=LOCK)
    wait_device(ha_broker, "front_door", lambda s: s["lock"]["locked"], "locked")

    ha.service("number", "set_value", entity_id=DIMMER, value=25)
    wait_device(ha_broker, "dimmer", lambda s: s["brightness"]["brightness"] == 25, "25 %")
    ha.wait_for(lambda: ha.states()[DIMMER]["state"] == "25", "25 in Home Assistant")

    ha.service("climate", "set_temperature", entity_id=THERMOSTAT, temperature=22.5)
    wait_device(ha_broker, "living_room_thermostat",
                lambda s: s["target_temperature"]["target_temperature"] == 22.5, "22.5 °C")
    ha.wait_for(lambda: ha.states()[THERMOSTAT]["attributes"]["temperature"] == 22.5,
                "22.5 °C in Home Assistant")


def test_signals_become_event_entities(home_assistant: HomeAssistantCore,
                                       ha_broker: Mosquitto) -> None:
    # The demo has no device with signals: the discovery of one (an AllJoyn counter with a
    # Tick signal, built by the gateway's own code) goes to the broker as the gateway sends it,
    # and the event payload in the shape tests/mqtt/test_topics.py checks the mirror sends.
    ha = home_assistant
    hass = HomeAssistant(Topics("ocfaj-events"), "events gw", __version__, 1)
    thing = counter(IdentityBook())
    docs = hass.gateway() + hass.device(thing, "counter", list(thing.capabilities.values()),
                                        None)
    retained = [(d.topic, d.payload) for d in docs] + [
        ("ocfaj-events/bridge/state", b'{"state":"online"}'),
        ("ocfaj-events/counter/availability", b'{"state":"online"}')]
    for topic, payload in retained:
        asyncio.run(_publish(ha_broker, topic, payload))
    entity = "event.counter_counter_event"
    ha.wait_for(lambda: ha.states().get(entity, {}).get("state") == "unknown", entity)
    assert ha.states()[entity]["attributes"]["event_types"] == ["Tick"]
    asyncio.run(_publish(ha_broker, "ocfaj-events/counter/event", json.dumps(
        {"capability": "counter", "signal": "Tick", "args": {"n": 7},
         "event_type": "Tick"}).encode(), retain=False))
    fired = ha.wait_for(lambda: (ha.states()[entity]["state"] != "unknown"
                                 and ha.states()[entity]), "the Tick event")
    assert fired["attributes"]["event_type"] == "Tick"
    assert fired["attributes"]["args"] == {"n": 7}
    for topic, _ in retained:
        asyncio.run(_publish(ha_broker, topic, b""))
    ha.wait_for(lambda: entity not in ha.states(), f"{entity} removed")


def test_stopped_gateway_is_unavailable_and_comes_back(
        home_assistant: HomeAssistantCore, ha_broker: Mosquitto,
        gateway: dict[str, Any]) -> None:
    ha = home_assistant
    ha.wait_for(lambda: _all_there(ha), "every entity", 60)
    run: DemoRun = gateway["run"]
    run.interrupt()
    assert run.finish() == 0
    ha.wait_for(lambda: all(ha.states()[e]["state"] == "unavailable" for e in ENTITIES),
                "every entity unavailable", 30)
    gateway["run"] = DemoRun(["--plain", "--scenario", str(scenario())], gateway["env"]).start()
    ha.wait_for(lambda: _all_there(ha), "every entity back", 90)
    # Until the new gateway has found the devices again, Home Assistant shows the previous
    # run's retained states: wait for the live gateway itself to list all of them.
    ha.wait_for(lambda: len(asyncio.run(_request(ha_broker, "devices", {}))["data"]["devices"])
                == 5, "the restarted gateway's five devices", 60)


@pytest.mark.parametrize(("old", "new", "name", "renamed"), [
    ("dimmer", "Study Dimmer", DIMMER, "number.study_dimmer_brightness"),
    ("colour_lamp", "Reading Lamp", LAMP, "light.reading_lamp"),
])
def test_rename_changes_the_device_name_and_entity_ids(
        home_assistant: HomeAssistantCore, ha_broker: Mosquitto, gateway: dict[str, Any],
        old: str, new: str, name: str, renamed: str) -> None:
    ha = home_assistant
    ha.wait_for(lambda: name in ha.states(), name, 60)
    unique_id = ha.ws({"type": "config/entity_registry/get", "entity_id": name})["unique_id"]
    answer = asyncio.run(_request(ha_broker, "rename", {"from": old, "to": new}))
    run = gateway["run"]
    assert answer["status"] == "ok", (answer, run.output[-3000:], run.errors[-3000:])
    ha.wait_for(lambda: (states := ha.states()).get(renamed, {}).get("state") not in (
        None, "unavailable", "unknown") and name not in states, f"{name} becoming {renamed}")
    entry = ha.ws({"type": "config/entity_registry/get", "entity_id": renamed})
    assert entry["unique_id"] == unique_id
    device = next(d for d in ha.ws({"type": "config/device_registry/list"})
                  if d["id"] == entry["device_id"])
    assert device["name"] == new


def test_home_assistant_logs_nothing_about_the_gateway(
        home_assistant: HomeAssistantCore, ha_broker: Mosquitto,
        gateway: dict[str, Any]) -> None:
    ha = home_assistant
    # What the MQTT integration says about discovery documents, and anything naming the gateway.
    about_us = r"\[homeassistant\.(components\.mqtt|helpers\.template)|ocfaj"
    found = ha.problems(about_us)
    assert found == [], "\n".join(found)
    # The check sees a document Home Assistant refuses (so an empty result means something).
    bad = "homeassistant/sensor/control_node/control/config"
    asyncio.run(_publish(ha_broker, bad, b'{"unique_id": "control", "state_topic": "x/y", '
                                         b'"device_class": "no_such_class"}'))
    ha.wait_for(lambda: any("no_such_class" in e for e in ha.problems(about_us)),
                "Home Assistant's complaint about the control document")
    asyncio.run(_publish(ha_broker, bad, b""))


async def _request(broker: Mosquitto, command: str, body: dict[str, Any]) -> Any:
    """A gateway request and its answer."""
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"{BASE}/bridge/response/{command}", qos=1)
        await client.publish(f"{BASE}/bridge/request/{command}", json.dumps(body), qos=1)
        async with asyncio.timeout(20):
            async for message in client.messages:
                assert isinstance(message.payload, bytes | bytearray)
                return json.loads(message.payload)
    raise AssertionError(f"no answer to {command}")


async def _publish(broker: Mosquitto, topic: str, payload: bytes, retain: bool = True) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, payload, qos=1, retain=retain)
