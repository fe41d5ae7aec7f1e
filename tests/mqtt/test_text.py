"""Text an MQTT client sends that no side can carry (issue 15 point 2), through a real mosquitto:
JSON escapes give lone surrogates (``\\ud800``) and NUL (``\\u0000``). Each gets a response with
an error, nothing reaches the device, nothing unusable is saved, and the side keeps running.
A stored identity book with such a name still lets the side start."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiomqtt
import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.text import MAX_TEXT_BYTES
from bridge.core.thing import Thing
from bridge.mqtt.side import MqttSide
from bridge.sim.testing.mosquitto import Mosquitto
from tests.mqtt.conftest import Recorder, SideFactory, drained
from tests.mqtt.things import Origin, counter


async def send(broker: Mosquitto, topic: str, payload: bytes) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, payload, qos=1)


async def response(rec: Recorder, command: str, count: int) -> dict[str, Any]:
    topic = f"ocfaj/bridge/response/{command}"
    await rec.wait_for(lambda: len(rec.on(topic)) >= count, message=f"{count} on {topic}")
    answer: dict[str, Any] = rec.on(topic)[count - 1].json()
    return answer


@pytest.fixture
async def setup(mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
                registry: Registry, book: IdentityBook) -> tuple[MqttSide, Thing]:
    thing = registry.upsert(counter(book))
    side = await side_factory(mosquitto, ha_discovery=False)
    await drained(side)
    return side, thing


@pytest.mark.parametrize("to", ["\\ud800", "a\\udfffb", "x\\u0000y"])
async def test_rename_to_text_that_cannot_be_a_topic_is_refused(
        setup: tuple[MqttSide, Thing], mosquitto: Mosquitto, recorder: Recorder,
        book: IdentityBook, to: str) -> None:
    side, thing = setup
    await send(mosquitto, "ocfaj/bridge/request/rename",
               f'{{"from": "counter", "to": "{to}", "transaction": 7}}'.encode())
    answer = await response(recorder, "rename", 1)
    assert answer["status"] == "error" and answer["transaction"] == 7, answer
    assert "surrogate" in answer["error"] or "NUL" in answer["error"], answer
    assert book.friendly_name(thing.id, "other") == "counter"
    assert json.dumps(book.to_json(), ensure_ascii=False).encode()
    # Still working: a good rename goes through.
    await send(mosquitto, "ocfaj/bridge/request/rename", b'{"from": "counter", "to": "tally"}')
    assert (await response(recorder, "rename", 2))["status"] == "ok"
    assert side.status()["connected"]


@pytest.mark.parametrize(("label", "words"), [
    ("\\ud800", "lone surrogate"), ("a\\u0000b", "NUL"),
    ("x" * (MAX_TEXT_BYTES + 1), "more than"),
])
async def test_a_string_value_no_device_can_take_gets_an_error_answer(
        setup: tuple[MqttSide, Thing], mosquitto: Mosquitto, recorder: Recorder,
        origin: Origin, label: str, words: str) -> None:
    side, _ = setup
    await send(mosquitto, "ocfaj/counter/set",
               f'{{"counter": {{"Label": "{label}"}}, "transaction": "t"}}'.encode())
    answer = await response(recorder, "set", 1)
    assert answer["status"] == "error" and answer["transaction"] == "t", answer
    assert answer["data"]["reason"] == "invalid_text" and words in answer["error"], answer
    assert origin.received == []
    await send(mosquitto, "ocfaj/counter/set", b'{"counter": {"Label": "fine"}}')
    assert (await response(recorder, "set", 2))["status"] == "ok"
    assert side.status()["connected"]


async def test_an_echoed_transaction_that_cannot_be_encoded_still_gets_its_answer(
        setup: tuple[MqttSide, Thing], mosquitto: Mosquitto, recorder: Recorder) -> None:
    await send(mosquitto, "ocfaj/counter/set",
               b'{"counter": {"Label": "ok"}, "transaction": "\\ud800"}')
    answer = await response(recorder, "set", 1)
    assert answer["status"] == "ok" and answer["transaction"] == "\ufffd", answer


async def test_a_stored_book_with_an_unusable_name_still_starts_the_side(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    first = IdentityBook()
    thing_id, _ = first.for_alljoyn_device("counter-3", bytes([3]) * 16)
    first.set_friendly_name(thing_id, "\ud800")  # what the gateway used to accept and save
    with caplog.at_level(logging.WARNING):
        book = IdentityBook.from_json(json.loads(json.dumps(first.to_json())))
    assert any("dropped 'friendly_name'" in r.getMessage() for r in caplog.records)
    side = await side_factory(mosquitto, ha_discovery=False)
    registry.upsert(counter(book))
    await recorder.wait_last("ocfaj/counter/availability", {"state": "online"})
    await drained(side)


async def test_a_name_in_the_book_that_cannot_be_a_topic_is_replaced(
        mosquitto: Mosquitto, recorder: Recorder, side_factory: SideFactory,
        registry: Registry, book: IdentityBook, caplog: pytest.LogCaptureFixture) -> None:
    thing = counter(book)
    book.set_friendly_name(thing.id, "bad\udc00name")
    with caplog.at_level(logging.WARNING, "ocfaj.mqtt"):
        side = await side_factory(mosquitto, ha_discovery=False)
        registry.upsert(thing)
        await recorder.wait_last("ocfaj/counter/availability", {"state": "online"})
    assert any("cannot be used" in r.getMessage() for r in caplog.records)
    assert book.friendly_name(thing.id, "x") == "counter"
    await drained(side)
