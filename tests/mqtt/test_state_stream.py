"""A stream of state changes on the MQTT side: every change is taken, but only the newest
state document of a burst is built and encoded (when the outbox writes it), and the broker ends
on the last state."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any

import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Thing
from bridge.model.types import Catalogue
from bridge.mqtt import payloads
from bridge.sim.testing.mosquitto import Mosquitto
from bridge.sim.testing.procs import await_until
from tests.mqtt.conftest import Recorder, SideFactory, drained
from tests.mqtt.things import sensor

BURST = 300


async def test_a_burst_of_states_builds_one_document_and_ends_on_the_last(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook,
        monkeypatch: pytest.MonkeyPatch) -> None:
    hall = registry.upsert(sensor(catalogue, book))
    side = await side_factory(mosquitto)
    await drained(side)
    built: list[float] = []
    state = payloads.state

    def counted(thing: Thing, visible: Any) -> dict[str, dict[str, Any]]:
        document = state(thing, visible)
        built.append(document["temperature"]["temperature"])
        return document

    monkeypatch.setattr(payloads, "state", counted)
    # One loop turn: each change is a StateChanged the mirror takes; none is built yet.
    for i in range(BURST):
        registry.update_state(hall.id, "temperature", {"temperature": 20.0 + i / 10})
    assert built == []
    last = 20.0 + (BURST - 1) / 10
    await recorder.wait_for(lambda: any(
        m.json().get("temperature", {}).get("temperature") == last
        for m in recorder.on("ocfaj/hall_sensor")))
    assert built == [last], f"state documents built for a burst of {BURST}: {len(built)}"


async def test_after_a_stream_the_broker_has_every_acknowledged_message_deleted_on_disk(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, catalogue: Catalogue, book: IdentityBook) -> None:
    # The link's deletes ride on the writer's next commit; the last one, with nothing after
    # it, is committed on its own: the file ends empty, not holding messages to send again.
    hall = registry.upsert(sensor(catalogue, book))
    side = await side_factory(mosquitto)
    await drained(side)
    last = 0.0
    for i in range(BURST):
        last = 20.0 + i / 10
        registry.update_state(hall.id, "temperature", {"temperature": last})
        await asyncio.sleep(0)  # a stream: one change per loop turn
    await recorder.wait_for(lambda: any(
        m.json().get("temperature", {}).get("temperature") == last
        for m in recorder.on("ocfaj/hall_sensor")))

    def on_disk() -> int:
        with contextlib.closing(sqlite3.connect(side.outbox.path)) as db:
            return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    await await_until(lambda: on_disk() == 0, 10.0, message="acknowledged deletes committed")
    assert side.outbox.count == 0
