"""Issue 13 point 6 on MQTT: a forgotten device leaves no retained message on the broker, not
even one of a light entity it stopped having before it went, nor one a run of the gateway
before a restart published."""

from __future__ import annotations

import json
from pathlib import Path

from bridge.core.events import EventBus
from bridge.core.forgetting import GoneDevices
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.mqtt.hass import node_id
from bridge.mqtt.published import FILE_NAME as PUBLISHED_FILE
from bridge.mqtt.side import MqttSide
from bridge.sim.testing.mosquitto import Mosquitto
from tests.mqtt.conftest import Recorder, RecorderFactory, SideFactory, drained, side_config
from tests.mqtt.retained import retained_now
from tests.mqtt.things import lamp, model_cap, ocf_thing


def retained_of(rec: Recorder, name: str, thing_id: str) -> list[str]:
    """Topics of the device a new subscriber got as retained messages (non-empty ones)."""
    node = node_id(thing_id)
    return sorted(m.topic for m in rec.messages if m.retain and m.payload and (
        m.topic == f"ocfaj/{name}" or m.topic.startswith(f"ocfaj/{name}/")
        or f"/{node}/" in m.topic))


async def test_forgotten_device_leaves_nothing_retained(
        mosquitto: Mosquitto, recorder_factory: RecorderFactory, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook) -> None:
    thing = registry.upsert(lamp(catalogue, book))
    gone = GoneDevices(registry, book, 0.3)
    gone.start()
    side = await side_factory(mosquitto)
    await drained(side)
    before = await recorder_factory(mosquitto)
    expected = {"ocfaj/kitchen_lamp", "ocfaj/kitchen_lamp/availability",
                "ocfaj/kitchen_lamp/light", f"homeassistant/light/{node_id(thing.id)}/light/config",
                f"homeassistant/sensor/{node_id(thing.id)}/last_seen/config"}
    await before.wait_for(lambda: set(retained_of(before, "kitchen_lamp", thing.id)) == expected)
    published = sorted(expected)

    # Before it goes, it stops being a light (a new listing without colour and brightness).
    registry.upsert(ocf_thing(book, 1, "Kitchen Lamp", [
        model_cap(catalogue, "switch", state={"on": False})]))
    registry.set_available(thing.id, False, "missed 3 discovery rounds")
    await before.wait_for(lambda: registry.get(thing.id) is None, message="lamp forgotten")
    await drained(side)
    for topic in published:
        await before.wait_for(lambda t=topic: (m := before.last(t)) is not None
                              and m.payload == b"" and m.retain, message=f"{topic} cleared")
    # The empty device list is a publication of its own: wait for it before reading the broker.
    await before.wait_for(lambda: (m := before.last("ocfaj/bridge/devices")) is not None
                          and json.loads(m.payload) == [], message="empty device list")

    held = await retained_now(mosquitto.host, mosquitto.port)
    assert json.loads(held["ocfaj/bridge/devices"]) == []
    assert [t for t in held if t in published or node_id(thing.id) in t] == [], sorted(held)
    assert thing.id not in book.to_json()["identities"]
    gone.shutdown()


async def test_device_forgotten_after_a_restart_leaves_nothing_retained(
        mosquitto: Mosquitto, recorder_factory: RecorderFactory, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook, tmp_path: Path) -> None:
    """The gateway stops while the lamp is gone; the next run never publishes the lamp, yet
    clears what the broker holds of it when it forgets it: the record of retained topics in
    the state directory says which topics those are."""
    state_dir = tmp_path / "state"
    thing = registry.upsert(lamp(catalogue, book))
    first = GoneDevices(registry, book, 3600.0)
    first.start()
    side = await side_factory(mosquitto, state_dir=state_dir)
    await drained(side)
    watcher = await recorder_factory(mosquitto)
    expected = {"ocfaj/kitchen_lamp", "ocfaj/kitchen_lamp/availability",
                "ocfaj/kitchen_lamp/light",
                f"homeassistant/light/{node_id(thing.id)}/light/config",
                f"homeassistant/sensor/{node_id(thing.id)}/last_seen/config"}
    await watcher.wait_for(lambda: set(retained_of(watcher, "kitchen_lamp", thing.id)) == expected)
    record = json.loads((state_dir / PUBLISHED_FILE).read_text())
    assert set(record["things"][thing.id]) == expected
    registry.set_available(thing.id, False, "missed 3 discovery rounds")
    await watcher.wait_last("ocfaj/kitchen_lamp/availability", {"state": "offline"})
    await drained(side)
    first.shutdown()
    await side.shutdown()

    # The restart: a new registry, the saved book, the same state directory.
    saved = IdentityBook.from_json(json.loads(json.dumps(book.to_json())))
    again = Registry(EventBus())
    gone = GoneDevices(again, saved, 0.3)
    restarted = MqttSide(side_config(mosquitto), again, catalogue, saved, "Test GW",
                         state_dir=state_dir)
    await restarted.start()
    try:
        gone.start()
        assert gone.timed == {thing.id}
        await watcher.wait_for(lambda: thing.id not in saved.to_json()["identities"],
                               message="lamp forgotten")
        await drained(restarted)
        for topic in sorted(expected):
            await watcher.wait_for(lambda t=topic: (m := watcher.last(t)) is not None
                                   and m.payload == b"" and m.retain, message=f"{topic} cleared")
        held = await retained_now(mosquitto.host, mosquitto.port)
        assert [t for t in held if t in expected or node_id(thing.id) in t] == [], sorted(held)
    finally:
        gone.shutdown()
        await restarted.shutdown()
    record = json.loads((state_dir / PUBLISHED_FILE).read_text())
    assert thing.id not in record["things"]
