"""A stream of state changes on the MQTT side: every change is taken, but only the newest
state document of a burst is built and encoded (when the outbox writes it), and the broker ends
on the last state."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Thing
from bridge.model.types import Catalogue
from bridge.mqtt import payloads
from bridge.sim.testing.mosquitto import Mosquitto
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
