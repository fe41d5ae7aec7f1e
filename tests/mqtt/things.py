"""Things for the MQTT tests, built the way origin adapters build them (through the identity book).

Test support only. ``Origin`` is the origin side's command handler for these Things: it carries
out checked writes on the Thing's state (as a device would answer), records every command it
received, and can be told to fail like a device does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.core.errors import DeviceError
from bridge.core.identity import IdentityBook
from bridge.core.registry import Command, CommandHandler, InvokeMethod, SetProperties
from bridge.core.thing import (
    Capability,
    DeviceInfo,
    GenericMember,
    GenericProperty,
    GenericSpec,
    Side,
    Thing,
)
from bridge.model.types import Catalogue, Value

COUNTER = GenericSpec(
    interface="com.example.Counter",
    properties=(GenericProperty("Count", "u", "r"), GenericProperty("Label", "s", "rw")),
    methods=(GenericMember("Reset", in_args=(("to", "u"),), out_args=(("was", "u"),)),),
    signals=(GenericMember("Tick", out_args=(("n", "u"),)),),
    observable=True,
)


def model_cap(catalogue: Catalogue, model_id: str, key: str | None = None,
              state: Mapping[str, Value] | None = None) -> Capability:
    model = catalogue.capability(model_id)
    assert model is not None, f"no model {model_id}"
    return Capability(key or model_id, f"/{key or model_id}", model=model,
                      state=dict(state or {}))


def ocf_thing(book: IdentityBook, n: int, name: str, caps: list[Capability],
              device_type: str = "oic.d.light") -> Thing:
    di = f"00000000-0000-4000-8000-{n:012x}"
    piid = f"11111111-0000-4000-8000-{n:012x}"
    thing_id, identity = book.for_ocf_device(di, piid, f"22222222-0000-4000-8000-{n:012x}")
    info = DeviceInfo(name=name, manufacturer="Acme", model=f"{name} model", sw_version="1.2.3",
                      device_types=(device_type,))
    return Thing(thing_id, Side.OCF, identity, info, {c.key: c for c in caps})


def lamp(catalogue: Catalogue, book: IdentityBook, n: int = 1, name: str = "Kitchen Lamp"
         ) -> Thing:
    return ocf_thing(book, n, name, [
        model_cap(catalogue, "switch", state={"on": False}),
        model_cap(catalogue, "brightness", state={"brightness": 40}),
        model_cap(catalogue, "colour", state={"hue": 120.0, "saturation": 50}),
    ])


def sensor(catalogue: Catalogue, book: IdentityBook, n: int = 2, name: str = "Hall Sensor"
           ) -> Thing:
    return ocf_thing(book, n, name, [
        model_cap(catalogue, "temperature", state={"temperature": 21.5}),
        model_cap(catalogue, "humidity", state={"humidity": 40}),
        model_cap(catalogue, "motion", state={"motion": False}),
        model_cap(catalogue, "battery", state={"charge": 90, "charging": False}),
    ], device_type="oic.d.sensor")


def counter(book: IdentityBook, n: int = 3, name: str = "Counter") -> Thing:
    device_id = f"counter-{n}"
    app_id = bytes([n]) * 16
    thing_id, identity = book.for_alljoyn_device(device_id, app_id)
    info = DeviceInfo(name=name, manufacturer="Example", model="C1", sw_version="0.1")
    cap = Capability("counter", "/counter", generic=COUNTER, state={"Count": 0, "Label": ""})
    return Thing(thing_id, Side.ALLJOYN, identity, info, {"counter": cap})


class Origin(CommandHandler):
    """The origin side of the test Things: applies writes like a device that accepts them."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Command]] = []
        self.fail_with: DeviceError | None = None

    async def execute(self, thing: Thing, command: Command) -> Mapping[str, Value]:
        self.received.append((thing.id, command))
        if self.fail_with is not None:
            raise self.fail_with
        cap = thing.capabilities[command.capability]
        if isinstance(command, SetProperties):
            return dict(command.values)
        assert isinstance(command, InvokeMethod)
        was = cap.state.get("Count", 0)
        return {"was": was}

    async def refresh(self, thing: Thing, capability: str) -> Mapping[str, Any]:
        return dict(thing.capabilities[capability].state)
