"""MQTT command payloads at scale (issue 9 point 3).

- pure: thousands of random ``/set`` documents through the payload parser and the registry's
  check: the result is a list of checked commands or a typed ``CommandError``, nothing else;
- through a real mosquitto to a running MQTT side: random bytes and JSON on ``/set``,
  ``/light/set``, ``/get`` and ``bridge/request/<command>``. Every message gets exactly one
  response ``{status, data, error, transaction}`` on ``bridge/response/...``, and a response
  with an error means nothing reached the device.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.core.errors import CommandError
from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Side, Thing
from bridge.model import load_catalogue
from bridge.mqtt.commands import decode, set_commands
from bridge.mqtt.side import MqttSide
from bridge.sim.testing.mosquitto import Mosquitto
from tests.fuzz.conftest import Record
from tests.fuzz.strategies import texts
from tests.mqtt.conftest import Recorder, drained, side_config
from tests.mqtt.things import Origin, counter, lamp

json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                        st.floats(allow_nan=False), texts)
json_values = st.recursive(json_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)), max_leaves=8)
keys = st.one_of(st.sampled_from(["switch", "brightness", "colour", "counter", "fan"]), texts)
props = st.one_of(st.sampled_from(["on", "brightness", "hue", "saturation", "Count", "Label",
                                   "Reset", "to", "state"]), texts)
random_documents = st.dictionaries(keys, st.one_of(
    st.dictionaries(props, st.one_of(json_values, st.dictionaries(props, json_values,
                                                                  max_size=2)), max_size=3),
    json_values), max_size=3)
# Close to what a user writes: the right names with values around the model's bounds.
numbers = st.one_of(st.integers(-20, 420), st.floats(-20, 420), st.booleans(), texts)
near_valid = st.fixed_dictionaries({}, optional={
    "switch": st.fixed_dictionaries({"on": st.one_of(st.booleans(), numbers)}),
    "brightness": st.fixed_dictionaries({"brightness": numbers}),
    "colour": st.fixed_dictionaries({}, optional={"hue": numbers, "saturation": numbers}),
    "counter": st.fixed_dictionaries({}, optional={"Label": st.one_of(texts, numbers),
                                                   "Count": numbers}),
})
set_documents = st.one_of(random_documents, near_valid)


def _payload(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


payloads = st.one_of(st.binary(max_size=60), json_values.map(_payload),
                     set_documents.map(_payload))


def test_set_documents_parse_to_checked_commands_or_typed_errors(fuzz_cases: Record) -> None:
    catalogue = load_catalogue()
    registry = Registry(EventBus())
    book = IdentityBook()
    things = [registry.upsert(lamp(catalogue, book)), registry.upsert(counter(book))]
    cases = accepted = 0

    # Documents a user writes, run every time on top of the generated ones: how many of
    # the generated ones are valid is up to chance (about 1 in 100), these are not.
    valid = [(things[0], {"switch": {"on": True}}), (things[0], {"brightness": {"brightness": 40}}),
             (things[0], {"switch": {"on": False}, "brightness": {"brightness": 0}}),
             (things[1], {"counter": {"Label": "hall"}})]

    @settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
    @given(thing=st.sampled_from(things), payload=st.one_of(payloads,
                                                             set_documents.map(_payload)))
    def run(thing: Thing, payload: bytes) -> None:
        nonlocal cases, accepted
        cases += 1
        try:
            commands = set_commands(thing, decode(payload))
            for command in commands:
                registry.check(thing.id, command, Side.MQTT)
        except CommandError as err:
            assert err.message and err.reason
            return
        accepted += 1

    for thing, document in valid:
        run = example(thing=thing, payload=_payload(document))(run)
    run()
    fuzz_cases("MQTT /set documents, parser + model check", cases)
    assert cases >= 2000 + len(valid) and accepted >= len(valid), (cases, accepted)


@pytest.fixture
async def running(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[MqttSide, Origin]]:
    catalogue = load_catalogue()
    origin = Origin()
    registry = Registry(EventBus())
    registry.register_handler(Side.OCF, origin)
    registry.register_handler(Side.ALLJOYN, origin)
    book = IdentityBook()
    registry.upsert(lamp(catalogue, book))
    registry.upsert(counter(book))
    side = MqttSide(side_config(None, host=mosquitto.host, port=mosquitto.port,
                                ha_discovery=False), registry, catalogue, book,
                    "Fuzz GW", state_dir=tmp_path / "state")
    await side.start()
    try:
        await drained(side)
        yield side, origin
    finally:
        await side.shutdown()


commands = st.one_of(
    st.tuples(st.sampled_from(["kitchen_lamp", "counter", "nobody"]),
              st.sampled_from(["set", "light/set", "get"])).map(lambda t: (f"{t[0]}/{t[1]}",
                                                                          t[1])),
    st.sampled_from(["devices", "info", "health_check", "refresh", "nonsense"]).map(
        lambda c: (f"bridge/request/{c}", c)),
    st.from_regex(r"[a-z_]{1,10}", fullmatch=True).map(lambda c: (f"bridge/request/{c}", c)))


async def test_random_mqtt_commands_are_answered_and_refusals_reach_nothing(
        running: tuple[MqttSide, Origin], mosquitto: Mosquitto, fuzz_cases: Record) -> None:
    side, origin = running
    loop = asyncio.get_running_loop()
    recorder = await Recorder(mosquitto.host, mosquitto.port,
                              topics=("ocfaj/bridge/response/#",)).start()
    cases = refused = 0
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:

            async def one(topic: str, answer_on: str, payload: bytes) -> dict[str, Any]:
                seen = len(recorder.messages)
                await client.publish(f"ocfaj/{topic}", payload, qos=1)
                async with asyncio.timeout(10):
                    # The recorder has no event to wait on; a short poll keeps cases fast.
                    while len(recorder.messages) <= seen:  # noqa: ASYNC110
                        await asyncio.sleep(0.002)
                reply = recorder.messages[seen]
                assert reply.topic == f"ocfaj/bridge/response/{answer_on}", reply
                answer: dict[str, Any] = reply.json()
                return answer

            @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
            @given(target=commands, payload=payloads)
            def run(target: tuple[str, str], payload: bytes) -> None:
                nonlocal cases, refused
                cases += 1
                topic, command = target
                answer_on = "get" if command == "get" else (
                    "set" if command in ("set", "light/set") else command)
                before = len(origin.received)
                answer = asyncio.run_coroutine_threadsafe(one(topic, answer_on, payload),
                                                          loop).result(15)
                assert set(answer) == {"status", "data", "error", "transaction"}, answer
                if answer["error"] is not None:
                    refused += 1
                    assert answer["status"] == "error" and isinstance(answer["error"], str)
                    assert len(origin.received) == before, answer
                else:
                    assert answer["status"] == "ok", answer

            await asyncio.to_thread(run)
        assert side.status()["connected"]
    finally:
        await recorder.stop()
    fuzz_cases("MQTT commands through mosquitto", cases)
    assert cases >= 250 and refused >= 120, (cases, refused)
