"""Issue 13 point 6 on the OCF side: a forgotten OCF device leaves no record behind in the
device tracker (so that gone devices do not pile up there either), and is a new Thing when
it answers again."""

from __future__ import annotations

from bridge.core.events import Event, ThingAdded, ThingRemoved
from bridge.core.forgetting import GoneDevices
from bridge.core.registry import Registry
from bridge.sim.testing.netns import OcfNetwork
from bridge.sim.testing.procs import await_until
from tests.ocf.conftest import SideFactory
from tests.ocf.simproc import SimProcess


async def test_forgotten_device_is_dropped_and_found_anew(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry) -> None:
    events: list[Event] = []
    registry.bus.subscribe("recorder", events.append)
    lamp = SimProcess(ocf_network.add_host("lamp"), "light", "Lamp")
    first = lamp.expect("ready")
    side = await ocf_side()
    assert side.devices is not None
    gone = GoneDevices(registry, side.book, 0.5)
    gone.start()
    thing_id = f"ocf:{first['piid']}"
    await await_until(lambda: registry.get(thing_id) is not None, timeout=15)
    assert first["di"] in side.devices.by_di

    lamp.send(cmd="leave", device="Lamp")
    lamp.expect("left")
    await await_until(lambda: registry.get(thing_id) is None, timeout=15,
                      message="the lamp forgotten")
    assert [e.thing.id for e in events if isinstance(e, ThingRemoved)] == [thing_id]
    assert side.devices.by_di == {}
    assert side.status()["discovered"] == 0

    lamp.send(cmd="return", device="Lamp")
    again = lamp.expect("ready")
    await await_until(lambda: registry.get(thing_id) is not None, timeout=15,
                      message="the lamp found again")
    assert [e.thing.id for e in events if isinstance(e, ThingAdded)] == [thing_id, thing_id]
    assert set(side.devices.by_di) == {again["di"]}
    gone.shutdown()
