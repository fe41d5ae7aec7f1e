"""The ``PropertiesChanged`` a producer builds from its plans (``bridge.alljoyn.signal_plans``)
is, byte for byte, the signal dbus-fast builds the usual way (``Message.new_signal``, every
field validated) from the same interface views; no bus is needed for that.

The bytes are compared with dbus-fast's ``Message._marshall``, the private method its
``MessageBus.send`` marshals every message with: there is no public one, and this is the only
way to see the bytes the bus gets without one. The real bus path is covered by the producer
tests (tests/alljoyn/test_producer.py) and the end-to-end ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from dbus_fast import Message, Variant

from bridge.alljoyn.bus import parse_bus
from bridge.alljoyn.producer import AllJoynProducer
from bridge.core.identity import Identity
from bridge.core.thing import Capability, DeviceInfo, GenericProperty, GenericSpec, Side, Thing
from bridge.model.types import Catalogue, Value

PROPERTIES = "org.freedesktop.DBus.Properties"


class _Recorder:
    """Stands in for the pacer: keeps what the producer emits."""

    def __init__(self) -> None:
        self.signals: list[tuple[Message, int]] = []

    def emit(self, msg: Message, size: int = 0) -> None:
        self.signals.append((msg, size))


def _thing(catalogue: Catalogue) -> Thing:
    def model(key: str, state: dict[str, Value]) -> Capability:
        return Capability(key, f"/{key}", model=catalogue.capability(key), state=state)

    widget = Capability("widget", "/widget/1", generic=GenericSpec(
        interface="example.Widget", resource_types=("x.example.-widget",),
        properties=(GenericProperty("my.level", "i", "rw"),
                    GenericProperty("label", "s", "rw"),
                    GenericProperty("dirty", "b", "r", "invalidates"),
                    GenericProperty("serial", "s", "r", "const"),
                    GenericProperty("quiet", "u", "r", "false"))))
    widget.state = {"my.level": 4, "label": "A-1", "dirty": False, "serial": "S",
                    "quiet": 1}
    caps = {
        "temperature": model("temperature", {"temperature": 21.5}),
        "switch": model("switch", {"on": False}),
        "colour": model("colour", {"hue": 10.0, "saturation": 50.0}),
        "battery": model("battery", {"charge": 80, "charging": True}),
        "power_meter": model("power_meter", {"power": 5.0, "energy": 1.0}),
        "widget": widget,
    }
    return Thing(id="ocf:plans", origin=Side.OCF,
                 identity=Identity(di="d1", app_id=b"\x02" * 16, device_id="dev-1"),
                 info=DeviceInfo(name="Plans", manufacturer="Acme",
                                 device_types=("oic.d.light",)),
                 capabilities=caps)


def _producer(thing: Thing, layout: str) -> tuple[AllJoynProducer, _Recorder]:
    async def execute(_command: object) -> dict[str, Value]:
        return {}

    producer = AllJoynProducer(parse_bus("unix:path=/nonexistent"), thing, execute, {},
                               virtual=True, translate_names=True, layout=layout)
    producer.update(thing)  # lays the objects out (the announcement goes nowhere)
    recorder = _Recorder()
    producer.pacer = recorder  # type: ignore[assignment]
    return producer, recorder


def _usual_way(producer: AllJoynProducer, cap_key: str,
               values: Mapping[str, Value]) -> list[Message]:
    """What the producer emitted before its plans: every signal by ``Message.new_signal``."""
    cap = producer.thing.capabilities[cap_key]
    path = producer._paths[cap_key]
    made = []
    for name, view in producer._objects[path].items():
        if view.key != cap_key:
            continue
        changed, invalidated = view.changes(cap, values)
        if changed or invalidated:
            body: dict[str, Any] = {
                prop: Variant(next(p.signature for p in view.decl.properties
                                   if p.name == prop), value)
                for prop, value in changed.items()}
            made.append(Message.new_signal(path, PROPERTIES, "PropertiesChanged", "sa{sv}as",
                                           [name, body, invalidated]))
    return made


def _wire(msg: Message) -> bytes:
    msg.serial = 41
    return bytes(msg._marshall(False))


CHANGES: list[tuple[str, dict[str, Value]]] = [
    ("temperature", {"temperature": 1000123.0}),
    ("temperature", {"temperature": -40.25}),
    ("switch", {"on": True}),
    ("colour", {"hue": 200.0}),
    ("colour", {"hue": 1.5, "saturation": 99.0}),
    ("battery", {"charging": False, "charge": 12}),
    ("power_meter", {"energy": 3.5}),
    ("widget", {"my.level": 7, "label": "zwölf ✓", "dirty": True}),
    ("widget", {"dirty": True}),
    ("widget", {"serial": "T", "quiet": 2}),  # const and unsignalled: no signal
    ("widget", {"label": ""}),
]


@pytest.mark.parametrize("layout", ["per-capability", "cdm"])
def test_planned_signals_are_the_bytes_dbus_fast_builds_the_usual_way(
        catalogue: Catalogue, layout: str) -> None:
    thing = _thing(catalogue)
    producer, recorder = _producer(thing, layout)
    emitted = 0
    for cap_key, values in CHANGES:
        thing.capabilities[cap_key].state.update(values)
        recorder.signals.clear()
        producer.state_changed(cap_key, values)
        usual = _usual_way(producer, cap_key, values)
        assert [_wire(msg) for msg, _ in recorder.signals] == [_wire(msg) for msg in usual]
        emitted += len(usual)
        for msg, size in recorder.signals:
            # The size the pacer is given is at least the signal's own (scalar values).
            assert size >= len(_wire(msg))
    # Most changes made a signal, the const and unsignalled ones none.
    assert emitted >= len(CHANGES) - 1
    recorder.signals.clear()
    producer.state_changed("widget", {"serial": "U", "quiet": 3})
    assert recorder.signals == []


def test_a_muted_capability_or_a_stopped_pacer_emits_nothing(catalogue: Catalogue) -> None:
    thing = _thing(catalogue)
    producer, recorder = _producer(thing, "per-capability")
    producer.state_changed("temperature", {"temperature": 3.0})
    assert len(recorder.signals) == 1
    producer.state_changed("no such capability", {"temperature": 3.0})
    producer.pacer = None
    producer.state_changed("temperature", {"temperature": 4.0})
    assert len(recorder.signals) == 1
