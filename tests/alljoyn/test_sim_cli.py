"""``python -m bridge.sim.alljoyn_cli``: a simulator process driven through its JSON-lines
control, found by the side, changed from outside, and stopped cleanly."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from dbus_fast import MessageType
from dbus_fast.aio import MessageBus

from bridge.alljoyn.interfaces import parse_interfaces
from bridge.core.registry import Registry
from bridge.core.thing import Side
from bridge.sim.alljoyn_peer import PeerBehaviour
from bridge.sim.pytest_plugin import AllJoynDeviceFactory
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SideFactory
from tests.alljoyn.producers_fixtures import dbus_call


async def test_simulator_process_under_control(dbus_daemon: DBusDaemon, make_side: SideFactory,
                                               registry: Registry) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.sim.alljoyn_cli", "--bus", dbus_daemon.address,
        "--model", "sensor", "--name", "Cellar", "--count", "2",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready = [json.loads(await proc.stdout.readline()) for _ in range(2)]
        assert [r["device"] for r in ready] == ["Cellar 1", "Cellar 2"]
        await make_side()
        await await_until(lambda: len(list(registry)) == 2)
        cellar = next(t for t in registry if t.info.name == "Cellar 2")
        assert cellar.origin is Side.ALLJOYN and set(cellar.capabilities) == {"humidity",
                                                                             "battery"}
        proc.stdin.write(b'{"cmd": "set", "device": "Cellar 2", "capability": "humidity", '
                         b'"values": {"humidity": 91}}\n')
        await proc.stdin.drain()
        await await_until(lambda: cellar.capabilities["humidity"].state["humidity"] == 91)
        proc.stdin.write(b'{"cmd": "stop"}\n')
        await proc.stdin.drain()
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
        await await_until(lambda: not any(t.available for t in registry))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_fixture_behaviour_reaches_the_simulator_process(
        alljoyn_device: AllJoynDeviceFactory, client: MessageBus) -> None:
    alljoyn_device("switch,brightness", "Lampe", behaviour={
        "languages": ["de", "fr"], "refuse_empty_language": True, "silent": ["brightness"]},
        brightness={"brightness": 20})
    reply = await dbus_call(client, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "ListNames")
    names = [n for n in reply.body[0] if n.startswith(":") and n != client.unique_name]
    lamp = ""
    for name in names:
        answer = await dbus_call(client, name, "/About", "org.alljoyn.About", "GetAboutData",
                                 "s", ["DE-ch"])
        if answer.message_type is MessageType.METHOD_RETURN:
            lamp = name
            assert answer.body[0]["SupportedLanguages"].value == ["de", "fr"]
    assert lamp, "no simulator answered GetAboutData('DE-ch')"
    refused = await dbus_call(client, lamp, "/About", "org.alljoyn.About", "GetAboutData", "s",
                              [""])
    assert refused.error_name == "org.alljoyn.Error.LanguageNotSupported"
    xml = (await dbus_call(client, lamp, "/light", "org.freedesktop.DBus.Introspectable",
                           "Introspect")).body[0]
    brightness = parse_interfaces(xml)["org.alljoyn.SmartSpaces.Operation.Brightness"]
    prop = brightness.property("Brightness")
    assert prop is not None and prop.emits_changed == "false"
    got = await dbus_call(client, lamp, "/light", "org.freedesktop.DBus.Properties", "Get",
                          "ss", ["org.alljoyn.SmartSpaces.Operation.Brightness", "Brightness"])
    assert got.body[0].value == 0.2


def test_bad_behaviour_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="not a language tag"):
        PeerBehaviour.from_mapping({"languages": ["en_GB"]})
    with pytest.raises(ValueError, match="unknown AllJoyn peer behaviour"):
        PeerBehaviour.from_mapping({"langauges": ["en"]})
    with pytest.raises(ValueError, match="announce signature must be one of"):
        PeerBehaviour.from_mapping({"announce_signature": "s"})
    behaviour = PeerBehaviour.from_mapping({"languages": ["de"], "silent": ["switch"],
                                            "announce_signature": "qqa(oas)"})
    assert behaviour.arguments() == ["--language", "de", "--announce-signature", "qqa(oas)",
                                     "--silent", "switch"]
