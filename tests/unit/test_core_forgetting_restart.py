"""Issue 13 point 6 across a restart: the registry starts empty, the identity book does not.

A device gone when the gateway stopped, or one that does not answer after the start, is
forgotten from the time the book stored (``gone_since``, wall clock), never before the
``settle`` time the origin sides get to find it; one that answers first is kept. A restart is
simulated as the daemon does it: the book saved as JSON, loaded into a new world with a new
:class:`GoneDevices`. Real registry, bus and event loop; every test waits for its condition."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from bridge.core.events import ThingForgotten
from bridge.core.forgetting import GoneDevices
from bridge.core.identity import IdentityBook
from bridge.core.thing import Side
from bridge.sim.testing.procs import await_until
from tests.unit.test_core_forgetting import SHORT, World

LAMP_DI = "0b7d5f3e-1a2b-4c3d-8e9f-000000000001"
SENSOR_DI = "0b7d5f3e-1a2b-4c3d-8e9f-000000000002"
KEPT_DI = "0b7d5f3e-1a2b-4c3d-8e9f-000000000003"
#: forget_after of the run before the restart: nothing is forgotten in it.
LONG = 3600.0


def restarted(world: World) -> World:
    """A new world on the book ``world`` would have saved in the state directory."""
    return World(IdentityBook.from_json(json.loads(json.dumps(world.book.to_json()))))


def forgotten(world: World) -> list[str]:
    return [e.thing_id for e in world.events if isinstance(e, ThingForgotten)]


async def test_devices_gone_before_a_restart_are_forgotten_after_it(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "ocfaj.forgetting")
    before = World()
    first = GoneDevices(before.registry, before.book, LONG)
    first.start()
    lamp = before.add("Lamp", LAMP_DI)
    sensor = before.add("Sensor", SENSOR_DI, Side.ALLJOYN)
    kept = before.add("Kept", KEPT_DI)
    before.registry.set_available(lamp.id, False, "missed 3 discovery rounds")
    stored = before.book.gone_since(lamp.id)
    assert stored is not None
    # The sensor was still there when the gateway stopped: no time stored for it.
    assert before.book.gone_since(sensor.id) is None
    first.shutdown()

    after = restarted(before)
    assert after.book.gone_since(lamp.id) == pytest.approx(stored, abs=0.001)
    gone = GoneDevices(after.registry, after.book, SHORT)
    gone.start()
    # Neither the lamp nor the sensor is in the new registry: both are timed, from the
    # stored time and from the start.
    assert gone.timed == {lamp.id, sensor.id, kept.id}
    assert after.book.gone_since(sensor.id) is not None
    # The kept device answers after the restart, before its time is up.
    back = after.add("Kept", KEPT_DI)
    assert back.id == kept.id and gone.timed == {lamp.id, sensor.id}
    await await_until(lambda: sorted(forgotten(after)) == sorted([lamp.id, sensor.id]), 10.0,
                      message="both devices of the earlier run forgotten")

    identities = after.book.to_json()["identities"]
    assert sorted(identities) == [kept.id]
    assert "gone_since" not in identities[kept.id]
    assert after.removed() == []  # they were never in this registry
    assert after.registry.get(kept.id) is back
    lines = [r.getMessage() for r in caplog.records if r.name == "ocfaj.forgetting"]
    assert any(f"forgetting ocf device Lamp ({lamp.id}): gone for " in line
               and "since before the gateway started" in line for line in lines), lines
    assert any(f"forgetting alljoyn device sensor ({sensor.id})" in line for line in lines), lines


async def test_time_up_at_start_still_waits_for_the_settle_time() -> None:
    before = World()
    lamp = before.add("Lamp", LAMP_DI)
    other = before.add("Other", SENSOR_DI)
    # Gone long ago, by the wall clock of the earlier run.
    before.book.mark_gone(lamp.id, 1_000_000.0, "Lamp")
    before.book.mark_gone(other.id, 1_000_000.0, "Other")
    after = restarted(before)
    settle = 4 * SHORT
    loop = asyncio.get_running_loop()
    started = loop.time()
    gone = GoneDevices(after.registry, after.book, SHORT, settle=settle)
    gone.start()
    # The other device answers within the settle time: it keeps its identity.
    back = after.add("Other", SENSOR_DI)
    assert back.identity == other.identity
    await await_until(lambda: forgotten(after) == [lamp.id], 10.0, message="the lamp forgotten")

    assert loop.time() - started >= settle
    assert sorted(after.book.to_json()["identities"]) == [other.id]
    assert after.book.gone_since(other.id) is None


async def test_a_stored_time_in_the_future_counts_from_now() -> None:
    before = World()
    lamp = before.add("Lamp", LAMP_DI)
    before.book.mark_gone(lamp.id, 1_000_000.0, "Lamp")
    # The wall clock went back a long way (a board without a real-time clock, before NTP).
    after = restarted(before)
    loop = asyncio.get_running_loop()
    started = loop.time()
    gone = GoneDevices(after.registry, after.book, SHORT, clock=lambda: 1000.0)
    gone.start()
    assert after.book.gone_since(lamp.id) == 1000.0
    await await_until(lambda: forgotten(after) == [lamp.id], 10.0, message="the lamp forgotten")
    assert loop.time() - started >= SHORT


def test_gone_since_survives_the_book_and_a_broken_one_is_dropped(
        caplog: pytest.LogCaptureFixture) -> None:
    book = IdentityBook()
    thing_id, _ = book.for_ocf_device(LAMP_DI, "", "")
    book.mark_gone(thing_id, 1_700_000_000.25, "Lamp")
    document = book.to_json()
    assert document["identities"][thing_id]["gone_since"] == "2023-11-14T22:13:20.250+00:00"
    loaded = IdentityBook.from_json(document)
    assert loaded.gone_since(thing_id) == 1_700_000_000.25
    assert loaded.gone_name(thing_id) == "Lamp"
    loaded.mark_present(thing_id)
    assert loaded.gone_since(thing_id) is None and loaded.gone_name(thing_id) == ""

    document["identities"][thing_id]["gone_since"] = "yesterday"
    broken = IdentityBook.from_json(document)
    assert broken.gone_since(thing_id) is None
    assert "dropped 'gone_since'" in caplog.text
