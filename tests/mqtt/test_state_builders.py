"""The mirror's state builder of a device, made once per device and reused for every change
(``bridge.mqtt.mirror``), builds the message the mirror built before it kept one: the state
document of the Thing at the time the outbox writes it, retained and coalesced, on the
device's topic; a rename, a new exposure or a new Thing object gets a new one. The mirror is
pure: these tests hold its ``emit`` and ``emit_later`` in a list and a dictionary."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bridge.core.events import StateChanged
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Thing
from bridge.model.types import Catalogue, Value
from bridge.mqtt import payloads
from bridge.mqtt.mirror import Mirror
from bridge.mqtt.names import FriendlyNames
from bridge.mqtt.outbox import Message
from bridge.mqtt.published import PublishedTopics
from bridge.mqtt.topics import Topics
from tests.mqtt.things import counter, lamp, sensor


class _Outbox:
    """The writer's side of ``emit_later``: the newest builder of each topic."""

    def __init__(self) -> None:
        self.waiting: dict[str, Callable[[], Message | None]] = {}
        self.sent: list[Message] = []

    def later(self, topic: str, render: Callable[[], Message | None]) -> None:
        self.waiting.pop(topic, None)
        self.waiting[topic] = render

    def build(self, topic: str) -> Message:
        message = self.waiting.pop(topic)()
        assert message is not None
        return message


def _mirror(registry: Registry, book: IdentityBook, tmp_path: Path,
            outbox: _Outbox) -> Mirror:
    return Mirror(registry, Topics("ocfaj", "homeassistant"), FriendlyNames(book, {}), None,
                  outbox.sent.append, qos=1, info={},
                  published=PublishedTopics(tmp_path / "retained.json"),
                  emit_later=outbox.later)


def _previous_builder(mirror: Mirror, thing: Thing, topic: str) -> Message:
    """The message the mirror's per-change closure built before the builders were kept."""
    return Message(topic, payloads.encode(payloads.state(thing, mirror.visible)), 1,
                   retain=True, coalesce=True)


def _varied(value: Value, round_: int) -> Value:
    """``value`` made different in each round (so that each round is a change)."""
    if isinstance(value, bool):
        return value is (round_ % 2 == 0)
    if isinstance(value, int | float):
        return value + round_
    return f"{value}{round_}"


def _change(registry: Registry, thing: Thing, cap: str, values: dict[str, Value]) -> None:
    registry.update_state(thing.id, cap, values)


def test_a_kept_builder_makes_the_previous_builders_message_after_every_change(
        registry: Registry, catalogue: Catalogue, book: IdentityBook, tmp_path: Path) -> None:
    outbox = _Outbox()
    things = [registry.upsert(lamp(catalogue, book)), registry.upsert(sensor(catalogue, book)),
              registry.upsert(counter(book))]
    mirror = _mirror(registry, book, tmp_path, outbox)
    registry.bus.subscribe("mirror", mirror.on_event)
    for thing in things:
        mirror.consider(thing)
    changes: list[tuple[Thing, str, dict[str, Value]]] = [
        (things[0], "brightness", {"brightness": 70}),
        (things[0], "switch", {"on": True}),
        (things[1], "temperature", {"temperature": 1000123.0}),
        (things[1], "battery", {"charging": True}),
        (things[2], "counter", {"Count": 5, "Label": "zwölf"}),
    ]
    builders: dict[str, Callable[[], Message | None]] = {}
    for round_ in range(3):
        for thing, cap, values in changes:
            outbox.waiting.clear()
            _change(registry, thing, cap, {k: _varied(v, round_) for k, v in values.items()})
            topic = mirror.topics.state(mirror.exposed[thing.id])
            render = outbox.waiting[topic]
            # One builder per device, kept from one change to the next.
            assert builders.setdefault(topic, render) is render
            assert render() == _previous_builder(mirror, thing, topic)
    # The documents carry the state as it is when they are built.
    _change(registry, things[1], "temperature", {"temperature": -4.5})
    topic = mirror.topics.state(mirror.exposed[things[1].id])
    assert json.loads(outbox.build(topic).payload)["temperature"] == {"temperature": -4.5}
    assert topic in mirror.published.topics(things[1].id)


def test_a_renamed_or_new_thing_gets_a_new_builder(
        registry: Registry, catalogue: Catalogue, book: IdentityBook, tmp_path: Path) -> None:
    outbox = _Outbox()
    thing = registry.upsert(sensor(catalogue, book))
    mirror = _mirror(registry, book, tmp_path, outbox)
    registry.bus.subscribe("mirror", mirror.on_event)
    mirror.consider(thing)
    _change(registry, thing, "temperature", {"temperature": 1.0})
    first = outbox.waiting["ocfaj/hall_sensor"]
    mirror.rename(thing, "porch")
    _change(registry, thing, "temperature", {"temperature": 2.0})
    message = outbox.build("ocfaj/porch")
    assert message == _previous_builder(mirror, thing, "ocfaj/porch")
    assert json.loads(message.payload)["temperature"] == {"temperature": 2.0}
    # A new Thing object of the same id (a rebuilt device) is the one the builder reads.
    rebuilt = sensor(catalogue, book)
    rebuilt.capabilities["temperature"].state["temperature"] = 30.0
    mirror.on_event(StateChanged(rebuilt, "temperature", {"temperature": 30.0}))
    render = outbox.waiting["ocfaj/porch"]
    assert render is not first
    assert render() == _previous_builder(mirror, rebuilt, "ocfaj/porch")
