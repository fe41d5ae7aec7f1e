"""Properties a device says it does not signal (``EmitsChangedSignal="false"``): the consumer
polls them, and a read from another side goes through to the device (bounded by
``read_cache``)."""

from __future__ import annotations

import asyncio

import pytest

from bridge.core.registry import Registry
from bridge.core.thing import Side, Thing
from bridge.sim.alljoyn_peer import PeerBehaviour
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SideFactory, SimFactory

BRIGHTNESS = "org.alljoyn.SmartSpaces.Operation.Brightness"
QUIET = PeerBehaviour(silent=("brightness",))


def lamp(registry: Registry) -> Thing:
    return next(t for t in registry if t.origin is Side.ALLJOYN)


async def test_unsignalled_property_is_polled(make_sim: SimFactory, make_side: SideFactory,
                                              registry: Registry) -> None:
    sim = await make_sim("light", "Quiet Lamp", behaviour=QUIET)
    await make_side(poll_interval=0.2)
    thing = lamp(registry)
    brightness = thing.capabilities["brightness"]
    assert brightness.origin_meta["unsignalled"] == {BRIGHTNESS: {"Brightness": "false"}}
    assert thing.capabilities["switch"].origin_meta["unsignalled"] == {}
    assert brightness.state == {"brightness": 60}
    sim.device.set("brightness", {"brightness": 8})
    await await_until(lambda: brightness.state["brightness"] == 8,
                      message="the poll to read the changed brightness")
    sim.device.set("switch", {"on": True})  # signalled as ever
    await await_until(lambda: thing.capabilities["switch"].state["on"] is True)


async def test_polling_can_be_turned_off_and_reads_go_through(
        make_sim: SimFactory, make_side: SideFactory, registry: Registry) -> None:
    sim = await make_sim("light", "Quiet Lamp", behaviour=QUIET)
    side = await make_side(poll_interval=0, read_cache=60.0)
    thing = lamp(registry)
    sim.device.set("brightness", {"brightness": 30})
    assert await registry.refresh(thing.id, "brightness") == {"brightness": 30}
    assert thing.capabilities["brightness"].state["brightness"] == 30
    sim.device.set("brightness", {"brightness": 40})
    # Read again within read_cache: answered from the last read, the device is not asked.
    assert await registry.refresh(thing.id, "brightness") == {"brightness": 30}
    side.commands.read_cache = 0.0
    assert await registry.refresh(thing.id, "brightness") == {"brightness": 40}
    assert side.consumer.poller.enabled is False


async def test_a_burst_of_reads_through_costs_the_device_one_read(
        make_sim: SimFactory, make_side: SideFactory, registry: Registry) -> None:
    sim = await make_sim("light", "Quiet Lamp", behaviour=QUIET)
    await make_side(poll_interval=0, read_cache=60.0, read_through="unsignalled")
    thing = lamp(registry)
    assert sim.producer is not None
    reads = sim.producer.reads
    before = reads.get(BRIGHTNESS, 0)
    sim.device.set("brightness", {"brightness": 8})
    done = await asyncio.gather(*(registry.read_through(thing.id, "brightness")
                                  for _ in range(20)))
    assert done == [True] * 20
    assert thing.capabilities["brightness"].state["brightness"] == 8
    assert reads.get(BRIGHTNESS, 0) == before + 1
    # Within read_cache the kept state answers; the device is not asked again.
    sim.device.set("brightness", {"brightness": 9})
    assert await registry.read_through(thing.id, "brightness") is True
    assert thing.capabilities["brightness"].state["brightness"] == 8
    assert reads.get(BRIGHTNESS, 0) == before + 1
    # With read_through = "unsignalled", a capability whose properties signal is never read
    # through.
    switch_reads = reads.get("org.alljoyn.SmartSpaces.Operation.OnOffStatus", 0)
    assert await registry.read_through(thing.id, "switch") is False
    assert reads.get("org.alljoyn.SmartSpaces.Operation.OnOffStatus", 0) == switch_reads


async def test_a_property_that_breaks_its_signal_promise_is_read_through(
        make_sim: SimFactory, make_side: SideFactory, registry: Registry) -> None:
    """``EmitsChangedSignal="true"`` in the introspection, yet no ``PropertiesChanged``: with
    the default ``read_through = "all"`` a read from another side still gets the new value,
    at most once per ``read_cache`` seconds, and ``read_due`` tells a cached serving path when
    the kept state may be behind."""
    sim = await make_sim("light", "Mute Lamp", behaviour=PeerBehaviour(mute=("brightness",)))
    side = await make_side(poll_interval=0, read_cache=60.0)
    thing = lamp(registry)
    assert sim.producer is not None
    brightness = thing.capabilities["brightness"]
    assert brightness.origin_meta["unsignalled"] == {}  # the introspection promises signals
    assert side.consumer.poller.enabled is False
    assert registry.read_due(thing.id, "brightness") is True
    reads = sim.producer.reads
    before = reads.get(BRIGHTNESS, 0)
    sim.device.set("brightness", {"brightness": 8})
    assert brightness.state["brightness"] == 60  # no signal came
    assert await registry.read_through(thing.id, "brightness") is True
    assert brightness.state["brightness"] == 8
    assert reads.get(BRIGHTNESS, 0) == before + 1
    # Read a moment ago: not due, the kept state answers and the device is not asked.
    assert registry.read_due(thing.id, "brightness") is False
    assert await registry.read_through(thing.id, "brightness") is True
    assert reads.get(BRIGHTNESS, 0) == before + 1
    side.commands.read_cache = 0.0
    assert registry.read_due(thing.id, "brightness") is True


async def test_read_through_unsignalled_leaves_signalling_capabilities_to_their_signals(
        make_sim: SimFactory, make_side: SideFactory, registry: Registry) -> None:
    sim = await make_sim("light", "Mute Lamp", behaviour=PeerBehaviour(mute=("brightness",)))
    await make_side(poll_interval=0, read_cache=0.0, read_through="unsignalled")
    thing = lamp(registry)
    sim.device.set("brightness", {"brightness": 8})
    assert registry.read_due(thing.id, "brightness") is False
    assert await registry.read_through(thing.id, "brightness") is False
    assert thing.capabilities["brightness"].state["brightness"] == 60


def test_a_capability_cannot_be_both_silent_and_mute() -> None:
    with pytest.raises(ValueError, match="either silent or mute"):
        PeerBehaviour(silent=("brightness",), mute=("brightness",)).check()
