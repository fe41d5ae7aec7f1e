"""Which AllJoyn capabilities read through (``AllJoynCommands.reads_through``)."""

from __future__ import annotations

from typing import Any

from bridge.alljoyn.commands import AllJoynCommands
from bridge.alljoyn.things import polled_interfaces
from bridge.core.identity import IdentityBook
from bridge.core.thing import Capability, DeviceInfo, Side, Thing
from bridge.model import load_catalogue

CASES: list[dict[str, Any]] = [
    {},
    {"unsignalled": {}},
    {"unsignalled": {"org.example.A": {}}},
    {"unsignalled": {"org.example.A": {"Level": "const"}}},
    {"unsignalled": {"org.example.A": {}, "org.example.B": {"Level": "false"}}},
]


def thing(meta: dict[str, Any]) -> Thing:
    model = load_catalogue().capability("switch")
    thing_id, identity = IdentityBook().for_alljoyn_device("reads-through", bytes(16))
    return Thing(id=thing_id, origin=Side.ALLJOYN, identity=identity,
                 info=DeviceInfo(name="Lamp", manufacturer="Test"),
                 capabilities={"switch": Capability(key="switch", instance="/switch",
                                                    model=model, state={"on": False},
                                                    origin_meta=meta)})


def test_unsignalled_capabilities_read_through_as_the_polled_interfaces_say() -> None:
    commands = AllJoynCommands(consumer=None, call_timeout=1.0)  # type: ignore[arg-type]
    for meta in CASES:
        lamp = thing(meta)
        expected = bool(polled_interfaces(lamp.capabilities["switch"], with_const=True))
        assert commands.reads_through(lamp, "switch") is expected, meta
    assert [commands.reads_through(thing(meta), "switch") for meta in CASES] == [
        False, False, False, True, True]
    assert not commands.reads_through(thing({}), "dimming")


def test_read_through_all_reads_every_capability() -> None:
    commands = AllJoynCommands(consumer=None, call_timeout=1.0,  # type: ignore[arg-type]
                               read_through="all")
    assert all(commands.reads_through(thing(meta), "switch") for meta in CASES)
