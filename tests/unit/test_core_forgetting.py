"""Issue 13 point 6, the timer: a Thing gone for ``bridge.forget_after`` seconds is removed
from the registry and the identity book; one that returns in time is kept; 0 never forgets.

Real registry, bus and event loop; the time is shrunk to a fraction of a second and every test
waits for the condition it asserts."""

from __future__ import annotations

import logging

import pytest

from bridge.core.events import Event, EventBus, ThingRemoved
from bridge.core.forgetting import GoneDevices, duration_text
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import DeviceInfo, Side, Thing
from bridge.sim.testing.procs import await_until

#: Short enough for a unit test, long enough that "return in time" is not a race.
SHORT = 0.2


class World:
    """A registry with its bus, an identity book and every event published."""

    def __init__(self, book: IdentityBook | None = None) -> None:
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe("recorder", self.events.append)
        self.registry = Registry(self.bus)
        self.book = IdentityBook() if book is None else book

    def add(self, name: str, di: str, origin: Side = Side.OCF) -> Thing:
        if origin == Side.OCF:
            thing_id, identity = self.book.for_ocf_device(di, "", "")
        else:
            thing_id, identity = self.book.for_alljoyn_device(di, bytes(16))
        thing = Thing(id=thing_id, origin=origin, identity=identity, info=DeviceInfo(name=name))
        thing.friendly_name = self.book.friendly_name(thing_id, name)
        return self.registry.upsert(thing)

    def removed(self) -> list[str]:
        return [e.thing.id for e in self.events if isinstance(e, ThingRemoved)]


@pytest.fixture
def world() -> World:
    return World()


async def test_a_gone_device_is_forgotten_with_its_identity(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "ocfaj.forgetting")
    gone = GoneDevices(world.registry, world.book, SHORT)
    gone.start()
    lamp = world.add("Lamp", "0b7d5f3e-1a2b-4c3d-8e9f-000000000001")
    sensor = world.add("Sensor", "0b7d5f3e-1a2b-4c3d-8e9f-000000000002", Side.ALLJOYN)
    assert world.book.friendly_name(lamp.id, "Lamp") == "lamp"

    world.registry.set_available(lamp.id, False, "missed 3 discovery rounds")
    world.registry.set_available(sensor.id, False, "it left the bus")
    assert gone.timed == {lamp.id, sensor.id}
    await await_until(lambda: world.registry.get(lamp.id) is None
                      and world.registry.get(sensor.id) is None, 10.0,
                      message="both gone devices forgotten")

    assert sorted(world.removed()) == sorted([lamp.id, sensor.id])
    assert gone.timed == frozenset()
    # The book entry went too: the friendly name is free for the next device called Lamp.
    assert world.book.to_json()["identities"] == {}
    assert world.book.friendly_name("ocf:another", "Lamp") == "lamp"
    lines = [r.getMessage() for r in caplog.records if r.name == "ocfaj.forgetting"]
    assert any(f"forgetting ocf device Lamp ({lamp.id}): gone for " in line for line in lines)
    assert any(f"forgetting alljoyn device Sensor ({sensor.id})" in line for line in lines)


async def test_a_device_back_in_time_keeps_its_identity(world: World) -> None:
    gone = GoneDevices(world.registry, world.book, SHORT)
    gone.start()
    lamp = world.add("Lamp", "0b7d5f3e-1a2b-4c3d-8e9f-000000000001")
    identity = lamp.identity
    world.registry.set_available(lamp.id, False, "missed 3 discovery rounds")
    world.registry.set_available(lamp.id, True)
    assert gone.timed == frozenset()
    # A device that leaves after the lamp came back is forgotten: the lamp's time would have
    # run out before it, had its timer not been cancelled.
    other = world.add("Other", "0b7d5f3e-1a2b-4c3d-8e9f-000000000003")
    world.registry.set_available(other.id, False, "missed 3 discovery rounds")
    await await_until(lambda: world.registry.get(other.id) is None, 10.0,
                      message="the other device forgotten")

    assert world.registry.get(lamp.id) is lamp and lamp.available
    assert world.removed() == [other.id]
    assert world.book.for_ocf_device(lamp.identity.di, "", "") == (lamp.id, identity)


async def test_zero_never_forgets(world: World) -> None:
    keeper = GoneDevices(world.registry, world.book, 0)
    keeper.start()
    lamp = world.add("Lamp", "0b7d5f3e-1a2b-4c3d-8e9f-000000000001")
    world.registry.set_available(lamp.id, False, "missed 3 discovery rounds")
    # The same departure in a world that forgets: once it has forgotten, 0 still keeps it.
    forgetting = World()
    forgetter = GoneDevices(forgetting.registry, forgetting.book, SHORT)
    forgetter.start()
    twin = forgetting.add("Lamp", "0b7d5f3e-1a2b-4c3d-8e9f-000000000001")
    forgetting.registry.set_available(twin.id, False, "missed 3 discovery rounds")
    await await_until(lambda: forgetting.registry.get(twin.id) is None, 10.0,
                      message="the forgetting world forgot the lamp")

    assert keeper.timed == frozenset()
    assert world.registry.get(lamp.id) is lamp and not lamp.available
    assert world.removed() == []
    assert lamp.id in world.book.to_json()["identities"]


async def test_already_gone_at_start_and_removed_otherwise(world: World) -> None:
    lamp = world.add("Lamp", "0b7d5f3e-1a2b-4c3d-8e9f-000000000001")
    other = world.add("Other", "0b7d5f3e-1a2b-4c3d-8e9f-000000000003")
    world.registry.set_available(lamp.id, False, "missed 3 discovery rounds")
    world.registry.set_available(other.id, False, "missed 3 discovery rounds")
    gone = GoneDevices(world.registry, world.book, SHORT)
    gone.start()
    assert gone.timed == {lamp.id, other.id}
    # Removed by someone else: its timer goes, its book entry stays (not forgotten here).
    world.registry.remove(other.id)
    assert gone.timed == {lamp.id}
    await await_until(lambda: world.registry.get(lamp.id) is None, 10.0,
                      message="the lamp forgotten")
    assert other.id in world.book.to_json()["identities"]
    assert lamp.id not in world.book.to_json()["identities"]


async def test_shutdown_cancels_every_timer(world: World) -> None:
    gone = GoneDevices(world.registry, world.book, SHORT)
    gone.start()
    lamp = world.add("Lamp", "0b7d5f3e-1a2b-4c3d-8e9f-000000000001")
    world.registry.set_available(lamp.id, False, "missed 3 discovery rounds")
    gone.shutdown()
    gone.shutdown()
    assert gone.timed == frozenset()
    # Its events no longer reach it either.
    other = world.add("Other", "0b7d5f3e-1a2b-4c3d-8e9f-000000000003")
    world.registry.set_available(other.id, False, "missed 3 discovery rounds")
    assert gone.timed == frozenset()
    # A departure timed after the shutdown runs out later than the lamp's would have.
    forgetting = World()
    GoneDevices(forgetting.registry, forgetting.book, SHORT).start()
    twin = forgetting.add("Lamp", "0b7d5f3e-1a2b-4c3d-8e9f-000000000001")
    forgetting.registry.set_available(twin.id, False, "missed 3 discovery rounds")
    await await_until(lambda: forgetting.registry.get(twin.id) is None, 10.0,
                      message="the forgetting world forgot the lamp")
    assert world.registry.get(lamp.id) is lamp
    assert world.removed() == []


@pytest.mark.parametrize(("seconds", "text"), [
    (2.5, "2.5 s"), (59.0, "59 s"), (250, "4 min 10 s"), (3 * 3600 + 300, "3 h 5 min"),
    (86400, "1 d 0 h"), (2 * 86400 + 7200, "2 d 2 h"),
])
def test_durations_for_operators(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
