"""One message too large for the broker never wedges the uplink (issue 15 point 3), against a
real mosquitto with ``message_size_limit``: mosquitto closes the connection of a client that
sends more, so the message would be sent again after every reconnect.

- a limit known to the gateway (``max_message_bytes``): the state is dropped before it is
  queued, counted, logged once; the connection stays up and other devices' updates flow;
- a limit the gateway does not know: the broker closes the connection while that message is in
  flight; it goes alone, is dropped after the broker refused it again, and from then on its size
  is dropped before queueing: a handful of reconnects, not an endless loop;
- a device with a 1 MiB name: its friendly name and topics stay within the limits, nothing dies.
"""

from __future__ import annotations

import logging

import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.text import MAX_NAME_LENGTH
from bridge.model.types import Catalogue
from bridge.sim.testing.mosquitto import MosquittoFactory
from tests.mqtt.conftest import Recorder, RecorderFactory, SideFactory, drained
from tests.mqtt.things import counter, lamp

LIMIT = 4096
BIG = "x" * (LIMIT * 2)


@pytest.mark.parametrize("known", [True, False], ids=["limit-configured", "limit-unknown"])
async def test_a_state_larger_than_the_broker_takes_does_not_stop_the_others(
        mosquitto_factory: MosquittoFactory, recorder_factory: RecorderFactory,
        side_factory: SideFactory, registry: Registry, catalogue: Catalogue,
        book: IdentityBook, known: bool, caplog: pytest.LogCaptureFixture) -> None:
    broker = mosquitto_factory(config_extra=f"message_size_limit {LIMIT}")
    recorder: Recorder = await recorder_factory(broker)
    light = registry.upsert(lamp(catalogue, book))
    big = registry.upsert(counter(book))
    overrides = {"max_message_bytes": LIMIT} if known else {}
    side = await side_factory(broker, ha_discovery=False, **overrides)
    await drained(side)
    with caplog.at_level(logging.WARNING, "ocfaj.mqtt"):
        registry.update_state(big.id, "counter", {"Label": BIG})
        for level in (10, 20, 30):
            registry.update_state(light.id, "brightness", {"brightness": level})
        await recorder.wait_for(
            lambda: (last := recorder.last("ocfaj/kitchen_lamp")) is not None
            and last.json()["brightness"] == {"brightness": 30}, within=30,
            message="the lamp's last update behind the oversized state")
        registry.update_state(light.id, "switch", {"on": True})
        await recorder.wait_for(
            lambda: (last := recorder.last("ocfaj/kitchen_lamp")) is not None
            and last.json()["switch"] == {"on": True}, within=30, message="a later update")
        try:
            await drained(side, within=30)
        except TimeoutError:
            raise AssertionError((side.status(), [(q.message.topic, q.message.size)
                                                  for q in side.outbox.peek(5)],
                                  [r.getMessage() for r in caplog.records][-8:])) from None
    status = side.status()
    assert status["dropped_oversized"] >= 1, status
    assert all(m.payload.decode().find(BIG) < 0 for m in recorder.on("ocfaj/counter"))
    if known:
        assert status["connects"] == 1, "the connection must never drop"
    else:
        assert status["connects"] <= 1 + 3, status  # the losses that identify the message
        assert any("closed the connection each time" in r.getMessage() for r in caplog.records)
    dropped = [r for r in caplog.records if "not publishing a message" in r.getMessage()
               or "closed the connection each time" in r.getMessage()]
    assert 1 <= len(dropped) <= 3, [r.getMessage() for r in dropped]


async def test_a_device_with_a_huge_name_is_mirrored_within_the_limits(
        mosquitto_factory: MosquittoFactory, recorder_factory: RecorderFactory,
        side_factory: SideFactory, registry: Registry, catalogue: Catalogue,
        book: IdentityBook) -> None:
    broker = mosquitto_factory()
    recorder = await recorder_factory(broker)
    side = await side_factory(broker)
    huge = registry.upsert(counter(book, name="N" * (1 << 20)))
    normal = registry.upsert(counter(book, n=4, name="N" * (1 << 20)))
    light = registry.upsert(lamp(catalogue, book))
    await drained(side, within=30)
    names = [book.friendly_name(t.id, "") for t in (huge, normal)]
    assert all(len(name) <= MAX_NAME_LENGTH for name in names), [len(n) for n in names]
    assert names[0] != names[1]
    assert len(huge.info.name) <= 255
    for name in names:
        await recorder.wait_last(f"ocfaj/{name}/availability", {"state": "online"})
    registry.update_state(light.id, "switch", {"on": True})
    await recorder.wait_for(
        lambda: (last := recorder.last("ocfaj/kitchen_lamp")) is not None
        and last.json()["switch"] == {"on": True}, message="the lamp still mirrored")
    assert side.status()["connected"] and side.status()["connects"] == 1
