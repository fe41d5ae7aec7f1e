"""Signals the consumer cannot use are dropped with one warning per device, never silently:
an Announce or a PropertiesChanged with a wrong signature."""

from __future__ import annotations

import logging

import pytest
from dbus_fast import Message, Variant
from dbus_fast.aio import MessageBus

from bridge.core.registry import Registry
from bridge.core.thing import Side
from bridge.sim.alljoyn_peer import PeerBehaviour
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SideFactory, SimFactory


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and text in r.getMessage()]


async def test_wrong_announce_is_reported_once_per_sender(
        make_side: SideFactory, make_sim: SimFactory, registry: Registry,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ocfaj.alljoyn")
    await make_side()
    sim = await make_sim("light", "Odd", behaviour=PeerBehaviour(
        announce_signature="qua(oas)a{sv}"))
    assert sim.producer is not None
    await await_until(lambda: bool(warnings_about(caplog, "qua(oas)a{sv}")),
                      message="the warning about the Announce")
    sim.producer.announce()
    sim.producer.announce()
    assert sim.producer.pacer is not None
    await sim.producer.pacer.drain()  # dbus-daemon has read both
    good = await make_sim("light", "Good")  # so its Announce reaches the gateway after them
    await await_until(lambda: any(t.info.name == "Good" for t in registry))
    lines = warnings_about(caplog, "qua(oas)a{sv}")
    assert len(lines) == 1, lines
    assert sim.producer.unique_name in lines[0] and "(qqa(oas)a{sv})" in lines[0]
    assert [t.info.name for t in registry if t.origin is Side.ALLJOYN] == ["Good"]
    assert good.producer is not None


async def test_wrong_properties_changed_is_reported_once(
        make_side: SideFactory, make_sim: SimFactory, registry: Registry,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ocfaj.alljoyn")
    sim = await make_sim("light", "Lamp")
    await make_side()
    assert sim.producer is not None and sim.producer.bus is not None
    bus: MessageBus = sim.producer.bus
    for _ in range(2):
        bus.send(Message.new_signal("/light", "org.freedesktop.DBus.Properties",
                                    "PropertiesChanged", "sa{sv}",
                                    ["org.alljoyn.SmartSpaces.Operation.Brightness",
                                     {"Brightness": Variant("d", 0.1)}]))
    sim.device.set("brightness", {"brightness": 90})  # a good one, sent after the bad ones
    thing = next(t for t in registry if t.origin is Side.ALLJOYN)
    await await_until(lambda: thing.capabilities["brightness"].state["brightness"] == 90)
    lines = warnings_about(caplog, "PropertiesChanged with signature (sa{sv})")
    assert len(lines) == 1, lines
    assert "'Lamp'" in lines[0] and sim.producer.unique_name in lines[0]
