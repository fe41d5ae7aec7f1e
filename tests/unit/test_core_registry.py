"""Registry: events, state diffs, command checks and routing, loop prevention, policy."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from bridge.core.errors import (
    DeviceError,
    DeviceUnavailable,
    NotAllowed,
    OutOfRange,
    ReadOnly,
    UnknownCapability,
    UnknownThing,
    WrongType,
)
from bridge.core.events import (
    AvailabilityChanged,
    CommandRejected,
    Event,
    EventBus,
    StateChanged,
    ThingAdded,
    ThingUpdated,
)
from bridge.core.policy import Policy, PolicyRule
from bridge.core.registry import Command, CommandHandler, InvokeMethod, Registry, SetProperties
from bridge.core.thing import (
    Capability,
    DeviceInfo,
    GenericMember,
    GenericProperty,
    GenericSpec,
    Identity,
    Side,
    Thing,
    assign_capability_keys,
)
from bridge.model import load_catalogue
from bridge.model.types import Value


class RecordingHandler(CommandHandler):
    """An origin side that records what reaches the device."""

    def __init__(self, fail: DeviceError | None = None) -> None:
        self.executed: list[Command] = []
        self.fail = fail

    async def execute(self, thing: Thing, command: Command) -> Mapping[str, Value]:
        self.executed.append(command)
        if self.fail:
            raise self.fail
        return dict(command.values) if isinstance(command, SetProperties) else {"out": 1}

    async def refresh(self, thing: Thing, capability: str) -> Mapping[str, Value]:
        return {"on": True}


def lamp(thing_id: str = "ocf:lamp", origin: Side = Side.OCF, **ident: str) -> Thing:
    cat = load_catalogue()
    switch = cat.capability("switch")
    widget = GenericSpec(
        interface="com.example.Widget",
        properties=(GenericProperty("Level", "y", "rw"), GenericProperty("Serial", "s", "r")),
        methods=(GenericMember("Blink", in_args=(("times", "q"),)),),
    )
    return Thing(
        id=thing_id, origin=origin, identity=Identity(**ident),  # type: ignore[arg-type]
        info=DeviceInfo(name="Lamp", device_types=("oic.d.light",)),
        capabilities={
            "switch": Capability("switch", "/switch", model=switch, state={"on": False}),
            "widget": Capability("widget", "/widget", generic=widget,
                                 state={"Level": 1, "Serial": "x"}),
        },
    )


@pytest.fixture
def world() -> tuple[Registry, list[Event], RecordingHandler]:
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe("recorder", events.append)
    registry = Registry(bus)
    handler = RecordingHandler()
    registry.register_handler(Side.OCF, handler)
    return registry, events, handler


def test_upsert_publishes_added_then_state_diffs(world: tuple[Registry, list[Event],
                                                               RecordingHandler]) -> None:
    registry, events, _ = world
    registry.upsert(lamp())
    assert isinstance(events[-1], ThingAdded)
    again = lamp()
    again.capabilities["switch"].state["on"] = True
    stored = registry.upsert(again)
    assert stored is events[0].thing  # type: ignore[union-attr]
    assert events[-1] == StateChanged(stored, "switch", {"on": True})
    assert registry.update_state("ocf:lamp", "switch", {"on": True}) == {}
    assert registry.update_state("ocf:lamp", "switch", {"on": False}) == {"on": False}


def test_availability_events(world: tuple[Registry, list[Event], RecordingHandler]) -> None:
    registry, events, _ = world
    registry.upsert(lamp())
    registry.set_available("ocf:lamp", False, "missed 3 discovery rounds")
    registry.set_available("ocf:lamp", False)
    assert [e for e in events if isinstance(e, AvailabilityChanged)] == [
        AvailabilityChanged(registry.get("ocf:lamp"), False)]  # type: ignore[arg-type]
    registry.upsert(lamp())
    assert isinstance(events[-1], AvailabilityChanged) and events[-1].available


async def test_valid_command_reaches_origin_and_updates_state(
        world: tuple[Registry, list[Event], RecordingHandler]) -> None:
    registry, events, handler = world
    registry.upsert(lamp())
    answer = await registry.command("ocf:lamp", SetProperties("switch", {"on": True}), Side.MQTT)
    assert answer == {"on": True}
    assert handler.executed == [SetProperties("switch", {"on": True})]
    assert registry.get("ocf:lamp").capabilities["switch"].state == {"on": True}  # type: ignore
    assert isinstance(events[-1], StateChanged)


@pytest.mark.parametrize(("thing", "command", "error"), [
    ("ocf:nope", SetProperties("switch", {"on": True}), UnknownThing),
    ("ocf:lamp", SetProperties("dimmer", {"on": True}), UnknownCapability),
    ("ocf:lamp", SetProperties("switch", {"on": 1}), WrongType),
    ("ocf:lamp", SetProperties("widget", {"Level": 300}), OutOfRange),
    ("ocf:lamp", SetProperties("widget", {"Serial": "y"}), ReadOnly),
    ("ocf:lamp", InvokeMethod("widget", "Blink", {"times": -1}), OutOfRange),
])
async def test_bad_commands_never_reach_the_device(
        world: tuple[Registry, list[Event], RecordingHandler], thing: str, command: Command,
        error: type[Exception]) -> None:
    registry, events, handler = world
    registry.upsert(lamp())
    with pytest.raises(error):
        await registry.command(thing, command, Side.ALLJOYN)
    assert handler.executed == []
    assert isinstance(events[-1], CommandRejected)


async def test_generic_method_call(world: tuple[Registry, list[Event],
                                                RecordingHandler]) -> None:
    registry, _, handler = world
    registry.upsert(lamp())
    assert await registry.command("ocf:lamp", InvokeMethod("widget", "Blink", {"times": 3}),
                                  Side.OCF) == {"out": 1}
    assert handler.executed == [InvokeMethod("widget", "Blink", {"times": 3})]


async def test_unavailable_and_device_errors(world: tuple[Registry, list[Event],
                                                          RecordingHandler]) -> None:
    registry, _, handler = world
    registry.upsert(lamp())
    registry.set_available("ocf:lamp", False)
    with pytest.raises(DeviceUnavailable):
        await registry.command("ocf:lamp", SetProperties("switch", {"on": True}), Side.MQTT)
    registry.set_available("ocf:lamp", True)
    handler.fail = DeviceError(404, "no such resource")
    with pytest.raises(DeviceError) as err:
        await registry.command("ocf:lamp", SetProperties("switch", {"on": True}), Side.MQTT)
    assert err.value.code == 404
    assert registry.get("ocf:lamp").capabilities["switch"].state == {"on": False}  # type: ignore


def test_virtual_things_wait_for_grace_and_lose_to_native_twins() -> None:
    registry = Registry(EventBus())
    virtual = lamp("ocf:virt", Side.OCF, app_id=b"A" * 16)  # type: ignore[arg-type]
    virtual.virtual = True
    registry.upsert(virtual)
    assert not registry.exposable(virtual, Side.ALLJOYN)
    virtual.grace_expired = True
    assert registry.exposable(virtual, Side.ALLJOYN)
    native = lamp("alljoyn:x", Side.ALLJOYN, app_id=b"A" * 16)  # type: ignore[arg-type]
    registry.upsert(native)
    assert not registry.exposable(virtual, Side.ALLJOYN)
    assert registry.exposable(native, Side.OCF)
    assert not registry.exposable(native, Side.ALLJOYN)


async def test_policy_read_only_and_deny() -> None:
    policy = Policy((
        PolicyRule("read_only", side="mqtt", name="Lamp"),
        PolicyRule("deny", interface="com.example.*"),
    ))
    registry = Registry(EventBus(), policy)
    handler = RecordingHandler()
    registry.register_handler(Side.OCF, handler)
    thing = registry.upsert(lamp())
    assert registry.exposable(thing, Side.MQTT)
    with pytest.raises(NotAllowed):
        await registry.command(thing.id, SetProperties("switch", {"on": True}), Side.MQTT)
    await registry.command(thing.id, SetProperties("switch", {"on": True}), Side.ALLJOYN)
    with pytest.raises(NotAllowed):
        await registry.command(thing.id, SetProperties("widget", {"Level": 2}), Side.ALLJOYN)
    assert not policy.allows_capability(thing, thing.capabilities["widget"])
    assert len(handler.executed) == 1


def test_policy_by_id_glob() -> None:
    thing = lamp(di="1234-abcd")
    assert not Policy((PolicyRule("deny", id="1234-*"),)).allows_thing(thing)
    assert Policy((PolicyRule("deny", id="9*"),)).allows_thing(thing)
    assert not Policy(default="deny").allows_thing(thing)


def test_handler_failure_is_isolated() -> None:
    bus = EventBus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe("broken", broken)
    bus.subscribe("ok", seen.append)
    bus.publish(ThingUpdated(lamp()))
    assert len(seen) == 1


def test_capability_keys_are_stable() -> None:
    assert assign_capability_keys([("switch", "/b"), ("switch", "/a"), ("brightness", "/a")]) \
        == ["switch_2", "switch", "brightness"]
