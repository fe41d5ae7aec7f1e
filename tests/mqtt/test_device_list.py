"""The device list is built once per burst of changes, not once per device (issue 19's numbers).

Building ``bridge/devices`` costs as much as all devices together; publishing it for each of
500 devices found at start cost the gateway most of a minute before Home Assistant saw any
entity (bench/hass.py). The mirror is pure: these tests hold its ``emit`` and ``defer`` in
lists and run the deferred call themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.mqtt.hass import HomeAssistant
from bridge.mqtt.mirror import Mirror
from bridge.mqtt.names import FriendlyNames
from bridge.mqtt.outbox import Message
from bridge.mqtt.published import PublishedTopics
from bridge.mqtt.topics import Topics
from tests.mqtt.things import lamp

DEVICES = "ocfaj/bridge/devices"


def _mirror(registry: Registry, book: IdentityBook, tmp_path: Path, sent: list[Message],
            later: list[Callable[[], None]] | None) -> Mirror:
    topics = Topics("ocfaj", "homeassistant")
    return Mirror(registry, topics, FriendlyNames(book, {}),
                  HomeAssistant(topics, "Test GW", "0", 1), sent.append, qos=1, info={},
                  published=PublishedTopics(tmp_path / "retained.json"),
                  defer=None if later is None else later.append)


def test_many_devices_at_once_give_one_device_list(
        registry: Registry, catalogue: Catalogue, book: IdentityBook, tmp_path: Path) -> None:
    things = [registry.upsert(lamp(catalogue, book, n, f"Lamp {n}")) for n in range(1, 41)]
    sent: list[Message] = []
    later: list[Callable[[], None]] = []
    mirror = _mirror(registry, book, tmp_path, sent, later)
    for thing in things:
        mirror.consider(thing)
    # Every device's own documents at once, the list not yet, and one call to make it.
    assert sum(m.topic == "ocfaj/lamp_1" for m in sent) == 1
    assert not [m for m in sent if m.topic == DEVICES]
    assert len(later) == 1
    later.pop()()
    [listing] = [m for m in sent if m.topic == DEVICES]
    assert [d["friendly_name"] for d in json.loads(listing.payload)] == [
        f"lamp_{n}" for n in range(1, 41)]
    assert listing.retain
    # A later change schedules the list again; an explicit flush publishes it at once, and
    # the deferred call then finds nothing due.
    mirror.withdraw(things[0])
    mirror.flush_devices()
    assert len(later) == 1
    later.pop()()
    lists = [json.loads(m.payload) for m in sent if m.topic == DEVICES]
    assert len(lists) == 2 and len(lists[1]) == 39


def test_without_defer_the_list_follows_each_change(
        registry: Registry, catalogue: Catalogue, book: IdentityBook, tmp_path: Path) -> None:
    sent: list[Message] = []
    mirror = _mirror(registry, book, tmp_path, sent, None)
    for n in (1, 2):
        mirror.consider(registry.upsert(lamp(catalogue, book, n, f"Lamp {n}")))
    assert [len(json.loads(m.payload)) for m in sent if m.topic == DEVICES] == [1, 2]
