"""Every topic of the MQTT side against a real mosquitto: exact payload, QoS and retain flag."""

from __future__ import annotations

import json
from functools import partial

import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.mqtt.log_level import log_level
from bridge.sim.testing.mosquitto import Mosquitto
from tests.mqtt.conftest import Recorder, RecorderFactory, SideFactory, connected, drained
from tests.mqtt.things import counter, lamp, sensor


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_gateway_and_device_topics(protocol: str, mosquitto: Mosquitto,
                                         recorder_factory: RecorderFactory,
                                         side_factory: SideFactory, registry: Registry,
                                         catalogue: Catalogue, book: IdentityBook) -> None:
    rec = await recorder_factory(mosquitto)
    thing = registry.upsert(lamp(catalogue, book))
    side = await side_factory(mosquitto, protocol=protocol, ha_discovery=False)
    await connected(side)
    await drained(side)

    state = await rec.wait_last("ocfaj/bridge/state", {"state": "online"})
    assert (state.qos, state.retain) == (1, True)
    info = await rec.wait_last("ocfaj/bridge/info", {
        "version": "0.1.0", "gateway": "Test GW", "base_topic": "ocfaj", "protocol": protocol,
        "ha_discovery": False, "ha_prefix": "homeassistant", "log_level": log_level()})
    assert (info.qos, info.retain) == (1, True)
    lamp_state = await rec.wait_last("ocfaj/kitchen_lamp", {
        "switch": {"on": False}, "brightness": {"brightness": 40},
        "colour": {"hue": 120.0, "saturation": 50}})
    assert (lamp_state.qos, lamp_state.retain) == (1, True)
    avail = await rec.wait_last("ocfaj/kitchen_lamp/availability", {"state": "online"})
    assert (avail.qos, avail.retain) == (1, True)
    light = await rec.wait_last("ocfaj/kitchen_lamp/light", {
        "state": "OFF", "brightness": 40, "color_mode": "hs", "color": {"h": 120.0, "s": 50}})
    assert light.retain
    await rec.wait_for(lambda: (m := rec.last("ocfaj/bridge/devices")) is not None
                       and m.json() != [], message="the device list")
    devices = rec.last("ocfaj/bridge/devices")
    assert devices is not None and (devices.qos, devices.retain) == (1, True)
    [entry] = devices.json()
    assert entry["id"] == thing.id == f"ocf:{thing.identity.piid}"
    assert entry["friendly_name"] == "kitchen_lamp"
    assert entry["origin"] == "ocf" and entry["available"] is True
    assert [c["key"] for c in entry["capabilities"]] == ["switch", "brightness", "colour"]
    assert entry["capabilities"][1]["properties"]["brightness"] == {
        "type": "integer", "access": "rw", "unit": "%", "minimum": 0, "maximum": 100}

    # A state change at the origin: the whole state document again, retained, QoS 1.
    registry.update_state(thing.id, "switch", {"on": True})
    changed = await rec.wait_last("ocfaj/kitchen_lamp", {
        "switch": {"on": True}, "brightness": {"brightness": 40},
        "colour": {"hue": 120.0, "saturation": 50}})
    assert (changed.qos, changed.retain) == (1, True)
    await rec.wait_last("ocfaj/kitchen_lamp/light", {
        "state": "ON", "brightness": 40, "color_mode": "hs", "color": {"h": 120.0, "s": 50}})

    # Availability follows the origin.
    registry.set_available(thing.id, False, "missed discovery")
    gone = await rec.wait_last("ocfaj/kitchen_lamp/availability", {"state": "offline"})
    assert (gone.qos, gone.retain) == (1, True)

    # Shutdown publishes the offline state before disconnecting.
    await side.shutdown()
    offline = await rec.wait_last("ocfaj/bridge/state", {"state": "offline"})
    assert (offline.qos, offline.retain) == (1, True)


async def test_last_will_marks_the_gateway_offline(mosquitto: Mosquitto,
                                                   recorder_factory: RecorderFactory,
                                                   side_factory: SideFactory) -> None:
    rec = await recorder_factory(mosquitto)
    side = await side_factory(mosquitto, keepalive=1)
    await connected(side)
    await rec.wait_last("ocfaj/bridge/state", {"state": "online"})
    # Freeze the side's connection without a DISCONNECT: the broker must send the will.
    assert side._link is not None and side._link._client is not None
    sock = side._link._client._client.socket()
    assert sock is not None
    side._link._client._client._sock = None  # paho no longer reads or pings
    sock.close()
    will = await rec.wait_last("ocfaj/bridge/state", {"state": "offline"})
    assert (will.qos, will.retain) == (1, True)
    # ...and the side notices and comes back.
    await rec.wait_last("ocfaj/bridge/state", {"state": "online"}, within=15)


async def test_events_and_generic_state(mosquitto: Mosquitto, recorder: Recorder,
                                        side_factory: SideFactory, registry: Registry,
                                        book: IdentityBook) -> None:
    thing = registry.upsert(counter(book))
    side = await side_factory(mosquitto, ha_discovery=False)
    await drained(side)
    await recorder.wait_last("ocfaj/counter", {"counter": {"Count": 0, "Label": ""}})
    registry.emit_signal(thing.id, "counter", "Tick", {"n": 7})
    registry.update_state(thing.id, "counter", {"Count": 2**60})
    await recorder.wait_for(lambda: bool(recorder.on("ocfaj/counter/event")))
    [event] = recorder.on("ocfaj/counter/event")
    assert event.json() == {"capability": "counter", "signal": "Tick", "args": {"n": 7},
                            "event_type": "Tick"}
    assert (event.qos, event.retain) == (1, False)
    # 64-bit values beyond 2^53 travel as decimal strings.
    await recorder.wait_last("ocfaj/counter", {"counter": {"Count": str(2**60), "Label": ""}})


async def test_removed_device_clears_its_retained_topics(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook) -> None:
    thing = registry.upsert(sensor(catalogue, book))
    side = await side_factory(mosquitto)
    await drained(side)
    await recorder.wait_for(lambda: bool(recorder.under("homeassistant/sensor/")))
    discovery = {m.topic for m in recorder.under("homeassistant/") if "ocfaj_ocf" in m.topic}
    assert discovery
    registry.remove(thing.id)
    await drained(side)
    for topic in ["ocfaj/hall_sensor", "ocfaj/hall_sensor/availability", *discovery]:
        await recorder.wait_for(partial(_cleared, recorder, topic), message=f"{topic} cleared")
        cleared = recorder.last(topic)
        assert cleared is not None and cleared.retain
    # The emptied device list is a publication of its own, not surely in before the clears.
    await recorder.wait_for(lambda: (m := recorder.last("ocfaj/bridge/devices")) is not None
                            and json.loads(m.payload) == [], message="empty device list")


def _cleared(rec: Recorder, topic: str) -> bool:
    last = rec.last(topic)
    return last is not None and last.payload == b""
