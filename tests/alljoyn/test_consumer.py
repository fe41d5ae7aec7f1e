"""The About consumer against simulated AllJoyn devices on a private bus: discovery by scan
and by Announce, Thing building through the models, state following, About validation,
NameOwnerChanged and the same device coming back."""

from __future__ import annotations

import logging

import pytest

from bridge.core.events import AvailabilityChanged, Event
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Side, Thing
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SideFactory, SimFactory


def things(registry: Registry) -> list[Thing]:
    return [t for t in registry if t.origin is Side.ALLJOYN]


def only_thing(registry: Registry) -> Thing:
    found = things(registry)
    assert len(found) == 1, found
    return found[0]


async def test_device_present_before_start_is_found_by_the_scan(
        make_sim: SimFactory, make_side: SideFactory, registry: Registry,
        book: IdentityBook) -> None:
    sim = await make_sim("light", "Lamp")
    sim.device.set("brightness", {"brightness": 25})
    await make_side()
    thing = only_thing(registry)
    assert thing.info.name == "Lamp"
    assert thing.info.manufacturer == "ocfaj simulator"
    assert thing.info.device_types == ("oic.d.light",)
    assert set(thing.capabilities) == {"switch", "brightness"}
    switch = thing.capabilities["switch"]
    assert switch.model is not None and switch.model.id == "switch"
    assert switch.origin_meta["interfaces"] == [
        "org.alljoyn.SmartSpaces.Operation.OnOffStatus",
        "org.alljoyn.SmartSpaces.Operation.OnControl",
        "org.alljoyn.SmartSpaces.Operation.OffControl"]
    assert thing.capabilities["brightness"].state == {"brightness": 25}
    assert switch.state == {"on": False}
    thing_id, identity = book.for_alljoyn_device(sim.device_id, sim.app_id)
    assert thing.id == thing_id and thing.identity == identity
    assert not thing.virtual


async def test_device_started_later_is_found_by_its_announce(
        make_sim: SimFactory, make_side: SideFactory, registry: Registry) -> None:
    side = await make_side()
    assert things(registry) == []
    sim = await make_sim("thermostat", "Thermo")
    sim.device.set("target_temperature", {"target_temperature": 21.5})
    await await_until(lambda: len(things(registry)) == 1, message="the Announce to be handled")
    thing = only_thing(registry)
    assert set(thing.capabilities) == {"temperature", "target_temperature"}
    assert thing.capabilities["target_temperature"].state == {"target_temperature": 21.5}
    assert side.status()["devices"] == 1


async def test_properties_changed_updates_the_state(
        make_sim: SimFactory, make_side: SideFactory, registry: Registry) -> None:
    sim = await make_sim("sensor", "Sensor")
    await make_side()
    thing = only_thing(registry)
    sim.device.set("humidity", {"humidity": 77})
    sim.device.set("battery", {"charge": 12})
    await await_until(lambda: thing.capabilities["humidity"].state["humidity"] == 77
                      and thing.capabilities["battery"].state["charge"] == 12)
    sim.device.set("battery", {"charging": True})
    await await_until(lambda: thing.capabilities["battery"].state["charging"] is True)


async def test_invalid_about_is_logged_and_does_not_drop_the_others(
        make_sim: SimFactory, make_side: SideFactory, registry: Registry,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ocfaj.alljoyn")
    await make_sim("light", "Broken", extra_about={"AppId": ("ay", b"abc")})
    await make_sim("light", "NoMaker", extra_about={"Manufacturer": ("i", 3)})
    await make_sim("light", "Good")
    side = await make_side()
    assert [t.info.name for t in things(registry)] == ["Good"]
    assert side.status()["invalid_devices"] == 2
    text = caplog.text
    assert "'Broken'" in text and "AppId must be 16 bytes, got 3" in text
    assert "'NoMaker'" in text and "Manufacturer must have D-Bus type s" in text


async def test_leaving_device_turns_unavailable_and_comes_back_as_the_same_thing(
        make_sim: SimFactory, make_side: SideFactory, registry: Registry) -> None:
    sim = await make_sim("light", "Lamp")
    await make_side()
    thing = only_thing(registry)
    seen: list[bool] = []

    def watch(event: Event) -> None:
        if isinstance(event, AvailabilityChanged):
            seen.append(event.available)

    registry.bus.subscribe("test", watch)
    await sim.stop()
    await await_until(lambda: not thing.available, message="NameOwnerChanged to be handled")
    await sim.start()
    await await_until(lambda: thing.available, message="the device to come back")
    assert only_thing(registry) is thing
    assert seen == [False, True]
