"""Commands over MQTT: /set, /light/set, /get and gateway requests, good and bad."""

from __future__ import annotations

import logging
from typing import Any

import aiomqtt
import pytest

from bridge.core.errors import DeviceError
from bridge.core.identity import IdentityBook
from bridge.core.limits import PropertyLimits
from bridge.core.registry import InvokeMethod, Registry, SetProperties
from bridge.core.thing import Thing
from bridge.model.types import Catalogue
from bridge.mqtt.side import MqttSide
from bridge.sim.testing.mosquitto import Mosquitto
from tests.mqtt.conftest import Recorder, SideFactory, drained
from tests.mqtt.things import Origin, counter, lamp, model_cap, ocf_thing, sensor


async def send(broker: Mosquitto, topic: str, payload: bytes, retain: bool = False) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, payload, qos=1, retain=retain)


async def response(rec: Recorder, command: str, count: int = 1) -> dict[str, Any]:
    topic = f"ocfaj/bridge/response/{command}"
    await rec.wait_for(lambda: len(rec.on(topic)) >= count, message=f"{count} on {topic}")
    found = rec.on(topic)[count - 1]
    assert (found.qos, found.retain) == (1, False)
    answer: dict[str, Any] = found.json()
    return answer


@pytest.fixture
async def setup(mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
                registry: Registry, catalogue: Catalogue, book: IdentityBook
                ) -> tuple[MqttSide, Thing, Thing, Thing]:
    things = (registry.upsert(lamp(catalogue, book)), registry.upsert(sensor(catalogue, book)),
              registry.upsert(counter(book)))
    side = await side_factory(mosquitto, ha_discovery=False)
    await drained(side)
    return (side, *things)


async def test_set_reaches_the_device_and_the_new_state_comes_back(
        setup: tuple[MqttSide, Thing, Thing, Thing], mosquitto: Mosquitto, recorder: Recorder,
        origin: Origin) -> None:
    _, light, _, _ = setup
    await send(mosquitto, "ocfaj/kitchen_lamp/set",
               b'{"switch": {"on": true}, "brightness": {"brightness": 75}, "transaction": "t1"}')
    answer = await response(recorder, "set")
    assert answer == {"status": "ok", "data": {"device": "kitchen_lamp", "state": {
        "switch": {"on": True}, "brightness": {"brightness": 75}}}, "error": None,
        "transaction": "t1"}
    assert origin.received == [(light.id, SetProperties("switch", {"on": True})),
                               (light.id, SetProperties("brightness", {"brightness": 75}))]
    await recorder.wait_last("ocfaj/kitchen_lamp", {
        "switch": {"on": True}, "brightness": {"brightness": 75},
        "colour": {"hue": 120.0, "saturation": 50}})


@pytest.mark.parametrize(("topic", "payload", "reason", "prop"), [
    ("ocfaj/kitchen_lamp/set", b'{"brightness": {"brightness": 101}}', "out_of_range",
     "brightness"),
    ("ocfaj/kitchen_lamp/set", b'{"brightness": {"brightness": "high"}}', "wrong_type",
     "brightness"),
    ("ocfaj/kitchen_lamp/set", b'{"brightness": {"level": 3}}', "unknown_property", "level"),
    ("ocfaj/kitchen_lamp/set", b'{"fan": {"speed": 3}}', "unknown_capability", None),
    ("ocfaj/hall_sensor/set", b'{"temperature": {"temperature": 30}}', "read_only",
     "temperature"),
    ("ocfaj/kitchen_lamp/set", b"not json", "wrong_type", None),
    # Nested deeper than the parser's recursion limit: refused before parsing, and answered.
    ("ocfaj/kitchen_lamp/set", b"[" * 100_000, "wrong_type", None),
    # One bad value in a payload keeps the good one from the device too.
    ("ocfaj/kitchen_lamp/set", b'{"switch": {"on": true}, "colour": {"hue": 400}}',
     "out_of_range", "hue"),
    ("ocfaj/counter/set", b'{"counter": {"Count": 5}}', "read_only", "Count"),
    ("ocfaj/kitchen_lamp/light/set", b'{"state": "ON", "brightness": 300}', "out_of_range",
     "brightness"),
    ("ocfaj/nobody/set", b'{"switch": {"on": true}}', "unknown_device", None),
])
async def test_bad_commands_are_answered_and_never_reach_the_device(
        setup: tuple[MqttSide, Thing, Thing, Thing], mosquitto: Mosquitto, recorder: Recorder,
        origin: Origin, topic: str, payload: bytes, reason: str, prop: str | None,
        caplog: pytest.LogCaptureFixture) -> None:
    await send(mosquitto, topic, payload)
    answer = await response(recorder, "set")
    assert answer["status"] == "error" and answer["transaction"] is None
    assert answer["data"]["reason"] == reason
    assert answer["data"]["property"] == prop
    assert isinstance(answer["error"], str) and answer["error"]
    assert origin.received == []
    assert any("refused MQTT" in r.message for r in caplog.records)


async def test_light_commands_in_home_assistant_json(
        setup: tuple[MqttSide, Thing, Thing, Thing], mosquitto: Mosquitto, recorder: Recorder,
        origin: Origin) -> None:
    _, light, _, _ = setup
    await send(mosquitto, "ocfaj/kitchen_lamp/light/set",
               b'{"state": "ON", "brightness": 80, "color": {"h": 30.5, "s": 99.6}}')
    assert (await response(recorder, "set"))["status"] == "ok"
    assert origin.received == [
        (light.id, SetProperties("switch", {"on": True})),
        (light.id, SetProperties("brightness", {"brightness": 80})),
        (light.id, SetProperties("colour", {"hue": 30.5, "saturation": 100}))]
    await recorder.wait_last("ocfaj/kitchen_lamp/light", {
        "state": "ON", "brightness": 80, "color_mode": "hs", "color": {"h": 30.5, "s": 100}})


async def test_generic_method_call_and_device_errors(
        setup: tuple[MqttSide, Thing, Thing, Thing], mosquitto: Mosquitto, recorder: Recorder,
        origin: Origin) -> None:
    _, _, _, count = setup
    await send(mosquitto, "ocfaj/counter/set", b'{"counter": {"Reset": {"to": 1}}}')
    answer = await response(recorder, "set")
    assert answer["data"]["state"] == {"counter": {"Reset": {"was": 0}}}
    assert origin.received == [(count.id, InvokeMethod("counter", "Reset", {"to": 1}))]
    origin.fail_with = DeviceError(503, "device busy")
    await send(mosquitto, "ocfaj/counter/set", b'{"counter": {"Label": "x"}}')
    failed = await response(recorder, "set", 2)
    assert failed["status"] == "error" and failed["error"] == "device busy"
    assert failed["data"] == {"device": "counter", "reason": "device_error", "code": 503}


async def test_get_refreshes_and_republishes(
        setup: tuple[MqttSide, Thing, Thing, Thing], mosquitto: Mosquitto, recorder: Recorder,
        registry: Registry) -> None:
    # The sensor's first state must have arrived before it is counted (read the state you
    # compare against only after it has arrived).
    await recorder.wait_for(lambda: len(recorder.on("ocfaj/hall_sensor")) >= 1)
    before = len(recorder.on("ocfaj/hall_sensor"))
    await send(mosquitto, "ocfaj/hall_sensor/get", b'{"temperature": {}}')
    answer = await response(recorder, "get")
    assert answer["status"] == "ok"
    assert answer["data"]["state"]["temperature"] == {"temperature": 21.5}
    await recorder.wait_for(lambda: len(recorder.on("ocfaj/hall_sensor")) > before)


async def test_retained_commands_are_not_replayed_at_subscription(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook, origin: Origin,
        caplog: pytest.LogCaptureFixture) -> None:
    # Someone left a retained command behind: it must not switch the lamp at every reconnect.
    await send(mosquitto, "ocfaj/kitchen_lamp/set", b'{"switch": {"on": true}}', retain=True)
    registry.upsert(lamp(catalogue, book))
    side = await side_factory(mosquitto, ha_discovery=False)
    await drained(side)
    await recorder.wait_for(lambda: any("retained" in r.message for r in caplog.records))
    assert origin.received == []
    assert recorder.on("ocfaj/bridge/response/set") == []


async def test_bridge_requests(setup: tuple[MqttSide, Thing, Thing, Thing],
                               mosquitto: Mosquitto, recorder: Recorder) -> None:
    side, light, _, _ = setup
    await send(mosquitto, "ocfaj/bridge/request/devices", b'{"transaction": 1}')
    devices = await response(recorder, "devices")
    assert devices["transaction"] == 1
    assert [d["friendly_name"] for d in devices["data"]["devices"]] == [
        "kitchen_lamp", "hall_sensor", "counter"]
    await send(mosquitto, "ocfaj/bridge/request/info", b"")
    assert (await response(recorder, "info"))["data"]["gateway"] == "Test GW"
    await send(mosquitto, "ocfaj/bridge/request/health_check", b"{}")
    health = (await response(recorder, "health_check"))["data"]
    assert health["healthy"] is True and health["devices"] == 3
    assert health["outbox_dropped"] == 0
    await send(mosquitto, "ocfaj/bridge/request/refresh", f'{{"device": "{light.id}"}}'.encode())
    refreshed = await response(recorder, "refresh")
    assert refreshed["data"]["device"] == "kitchen_lamp"
    await send(mosquitto, "ocfaj/bridge/request/rename", b'{"from": "counter", "to": "a/b"}')
    assert "must not contain" in (await response(recorder, "rename"))["error"]
    await send(mosquitto, "ocfaj/bridge/request/reboot", b"{}")
    unknown = await response(recorder, "reboot")
    assert unknown["status"] == "error" and "unknown request" in unknown["error"]
    assert side.status()["connected"]


async def test_a_deeply_nested_request_is_answered_and_the_side_keeps_serving(
        setup: tuple[MqttSide, Thing, Thing, Thing], mosquitto: Mosquitto,
        recorder: Recorder) -> None:
    side, _, _, _ = setup
    # 100,000 levels: Python's JSON parser would end in RecursionError, with no answer;
    # 32 levels (the object and 31 arrays in it) are still taken.
    await send(mosquitto, "ocfaj/bridge/request/rename", b"[" * 100_000)
    answer = await response(recorder, "rename")
    assert answer["status"] == "error"
    assert answer["error"] == "the payload nests arrays and objects more than 32 deep"
    await send(mosquitto, "ocfaj/bridge/request/rename",
               b'{"from": "counter", "to": "counter_2", "x": ' + b"[" * 31 + b"]" * 31 + b"}")
    renamed = await response(recorder, "rename", 2)
    assert renamed["status"] == "ok" and renamed["data"]["to"] == "counter_2"
    assert side.status()["connected"]


async def test_colour_temperature_in_mireds_from_older_home_assistant(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook, origin: Origin) -> None:
    # A lamp of 2700..6500 K: 250 can only be mireds (4000 K); 20 is neither and is refused,
    # with the range in the answer (never silently).
    white = registry.upsert(ocf_thing(book, 9, "White Lamp", [
        model_cap(catalogue, "switch", state={"on": True}),
        model_cap(catalogue, "colour_temperature", state={"colour_temperature": 3000})]))
    white.capabilities["colour_temperature"].limits["colour_temperature"] = PropertyLimits(
        minimum=2700, maximum=6500)
    side = await side_factory(mosquitto, ha_discovery=False)
    await drained(side)
    await send(mosquitto, "ocfaj/white_lamp/light/set", b'{"color_temp": 250}')
    assert (await response(recorder, "set"))["status"] == "ok"
    await send(mosquitto, "ocfaj/white_lamp/light/set", b'{"color_temp": 5000}')
    assert (await response(recorder, "set", 2))["status"] == "ok"
    assert origin.received == [
        (white.id, SetProperties("colour_temperature", {"colour_temperature": 4000})),
        (white.id, SetProperties("colour_temperature", {"colour_temperature": 5000}))]
    await send(mosquitto, "ocfaj/white_lamp/light/set", b'{"color_temp": 20}')
    refused = await response(recorder, "set", 3)
    assert refused["status"] == "error" and refused["data"]["reason"] == "out_of_range"
    assert "2700" in refused["error"], refused
    assert len(origin.received) == 2


async def test_gateway_controls_log_level_and_discovery(
        setup: tuple[MqttSide, Thing, Thing, Thing], mosquitto: Mosquitto,
        recorder: Recorder) -> None:
    before = logging.getLogger("ocfaj").level
    try:
        await send(mosquitto, "ocfaj/bridge/request/log_level", b'{"value": "debug"}')
        assert (await response(recorder, "log_level"))["data"] == {"value": "debug"}
        assert logging.getLogger("ocfaj").getEffectiveLevel() == logging.DEBUG
        await recorder.wait_for(lambda: (recorder.last("ocfaj/bridge/info") is not None
                                         and recorder.last("ocfaj/bridge/info").json()  # type: ignore[union-attr]
                                         .get("log_level") == "debug"))
        await send(mosquitto, "ocfaj/bridge/request/log_level", b'{"value": "loud"}')
        wrong = await response(recorder, "log_level", 2)
        assert wrong["status"] == "error" and "debug, info, warning, error" in wrong["error"]
    finally:
        logging.getLogger("ocfaj").setLevel(before)
        logging.getLogger("bridge").setLevel(before)
    await send(mosquitto, "ocfaj/bridge/request/refresh_discovery", b"{}")
    assert (await response(recorder, "refresh_discovery"))["data"] == {"devices": 3}
