"""Store-and-forward: broker outages, restarts, the outbox bound, a hung broker."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time

import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.sim.testing.mosquitto import MosquittoFactory
from bridge.sim.testing.procs import await_until
from tests.mqtt.conftest import Recorder, RecorderFactory, SideFactory, connected, drained
from tests.mqtt.things import counter, lamp


def ticks(rec: Recorder) -> list[int]:
    return [m.json()["args"]["n"] for m in rec.on("ocfaj/counter/event")]


def assert_complete_in_order(seen: list[int], expected: range) -> None:
    """Every value arrived; duplicates (QoS 1 resends) only ever repeat, never reorder."""
    assert set(seen) == set(expected), f"missing {sorted(set(expected) - set(seen))[:20]}"
    first: list[int] = []
    for n in seen:
        if n not in first:
            first.append(n)
    assert first == list(expected)


async def test_broker_restart_during_a_stream_loses_nothing(
        mosquitto_factory: MosquittoFactory, recorder_factory: RecorderFactory,
        side_factory: SideFactory, registry: Registry, book: IdentityBook) -> None:
    broker = mosquitto_factory(persistence=True)
    rec = await recorder_factory(broker, persistent=True)
    thing = registry.upsert(counter(book))
    side = await side_factory(broker, ha_discovery=False)
    await drained(side)
    total = 300
    for n in range(1, total + 1):
        registry.update_state(thing.id, "counter", {"Count": n})
        registry.emit_signal(thing.id, "counter", "Tick", {"n": n})
        if n == 100:
            await asyncio.to_thread(broker.stop)
        elif n == 200:
            assert not side.status()["connected"] and side.outbox.count >= 100
            await asyncio.to_thread(broker.start)
        await asyncio.sleep(0.002)
    await rec.wait_for(lambda: set(ticks(rec)) >= set(range(1, total + 1)), within=30,
                       message="every tick")
    assert_complete_in_order(ticks(rec), range(1, total + 1))
    await rec.wait_last("ocfaj/counter", {"counter": {"Count": total, "Label": ""}})
    counts = [m.json()["counter"]["Count"] for m in rec.on("ocfaj/counter")]
    # QoS 1 is at least once: messages in flight when the broker went down are sent again
    # after the reconnect, so the stream may step back, but only to a state it already
    # delivered (a redelivery), never to one that jumps a newer state it had not sent yet.
    for index in range(1, len(counts)):
        if counts[index] < counts[index - 1]:
            assert counts[index] in counts[:index], f"state {counts[index]} out of order"
    assert counts[-1] == total
    assert side.outbox.dropped == 0
    assert side.status()["connects"] >= 2


async def test_retained_state_is_republished_to_a_broker_that_lost_it(
        mosquitto_factory: MosquittoFactory, recorder_factory: RecorderFactory,
        side_factory: SideFactory, registry: Registry, catalogue: Catalogue,
        book: IdentityBook) -> None:
    broker = mosquitto_factory()  # no persistence: a restart forgets every retained message
    thing = registry.upsert(lamp(catalogue, book))
    side = await side_factory(broker)
    await drained(side)
    connects = side.status()["connects"]
    await asyncio.to_thread(broker.restart)
    await await_until(lambda: side.status()["connects"] > connects, 15)
    await drained(side)
    fresh = await recorder_factory(broker)
    await fresh.wait_last("ocfaj/kitchen_lamp/availability", {"state": "online"})
    state = await fresh.wait_last("ocfaj/kitchen_lamp", {
        "switch": {"on": False}, "brightness": {"brightness": 40},
        "colour": {"hue": 120.0, "saturation": 50}})
    assert state.retain
    await fresh.wait_for(lambda: any(m.topic.startswith("homeassistant/light/") and m.retain
                                     for m in fresh.messages))
    assert fresh.last("ocfaj/bridge/state") is not None
    assert thing.id in {d["id"] for d in json.loads(
        (fresh.last("ocfaj/bridge/devices") or _NONE).payload)}


async def test_outbox_bound_drops_the_oldest_counts_and_logs(
        mosquitto_factory: MosquittoFactory, recorder_factory: RecorderFactory,
        side_factory: SideFactory, registry: Registry, book: IdentityBook,
        caplog: pytest.LogCaptureFixture) -> None:
    broker = mosquitto_factory(persistence=True)
    rec = await recorder_factory(broker, persistent=True)
    await asyncio.to_thread(broker.stop)
    thing = registry.upsert(counter(book))
    with caplog.at_level(logging.WARNING, "ocfaj.mqtt.outbox"):
        side = await side_factory(broker, ha_discovery=False, outbox_max_messages=10)
        # The Thing's state, availability and the device list are queued first (3 messages).
        for n in range(1, 31):
            registry.emit_signal(thing.id, "counter", "Tick", {"n": n})
        await asyncio.sleep(0)
    assert side.outbox.count == 10
    assert side.outbox.dropped == 23 and side.status()["outbox_dropped"] == 23
    assert any("dropped" in r.message for r in caplog.records)
    await asyncio.to_thread(broker.start)
    await rec.wait_for(lambda: 30 in ticks(rec), within=15)
    # On connect the retained snapshot (info, device list, state, availability) joins the
    # queue behind ticks 21..30 and the bound drops the four oldest of those as well.
    assert ticks(rec) == list(range(25, 31))
    assert side.outbox.dropped == 27
    # The retained state is re-published after the replay even though it was dropped.
    await rec.wait_last("ocfaj/counter/availability", {"state": "online"})


async def test_a_hung_broker_is_detected_and_the_link_restarted(
        mosquitto_factory: MosquittoFactory, recorder_factory: RecorderFactory,
        side_factory: SideFactory, registry: Registry, book: IdentityBook) -> None:
    broker = mosquitto_factory()
    thing = registry.upsert(counter(book))
    # A long keep-alive: paho's own ping would take minutes to notice.
    side = await side_factory(broker, ha_discovery=False, keepalive=600, health_interval=0.5)
    await drained(side)
    # SIGSTOP keeps the TCP connection open but nothing answers: only the watchdog notices.
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        await await_until(lambda: not side.status()["connected"], 20,
                          message="watchdog declared the link dead")
        assert "health probe" in side.status()["last_error"]
        registry.emit_signal(thing.id, "counter", "Tick", {"n": 1})
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    rec = await recorder_factory(broker)
    await connected(side, 30)
    await rec.wait_for(lambda: ticks(rec) == [1], within=20)


async def test_replay_rate(mosquitto_factory: MosquittoFactory,
                           recorder_factory: RecorderFactory, side_factory: SideFactory,
                           registry: Registry, book: IdentityBook) -> None:
    """Measures (prints, does not assert) how fast a 5,000 message backlog is replayed."""
    broker = mosquitto_factory()
    thing = registry.upsert(counter(book))
    await asyncio.to_thread(broker.stop)
    side = await side_factory(broker, ha_discovery=False)
    for n in range(1, 5001):
        registry.emit_signal(thing.id, "counter", "Tick", {"n": n})
    await asyncio.sleep(0)
    await asyncio.to_thread(broker.start)
    rec = await recorder_factory(broker)
    await connected(side, 15)
    started = time.monotonic()
    await drained(side, 60)
    elapsed = time.monotonic() - started
    print(f"replayed 5,000 messages in {elapsed:.2f} s ({5000 / elapsed:.0f} msg/s)")
    await rec.wait_for(lambda: len(ticks(rec)) >= 1)


class _None:
    payload = b"[]"


_NONE = _None()
