"""Benchmark 4: outbox replay after a broker outage: rate, time to drain, loss.

The gateway's outbox (its real SQLite file, written with ``bridge.mqtt.outbox``) holds N
queued event messages when the real gateway process starts with the broker down; then the
broker comes back and the clock runs until a subscriber has every message. The subscriber's
persistent session (QoS 1, set up before the outage, kept by mosquitto's persistence) means
it misses nothing the gateway sends while it reconnects. Baseline in the same run: a bare
aiomqtt client publishing N QoS 1 messages in the same batches of 500 (the gateway's batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import aiomqtt

from bench import rig
from bench.stats import Report, rate
from bridge.mqtt.outbox import FILE_NAME, Message, Outbox
from bridge.sim.testing.mosquitto import Mosquitto

NAME = "replay"
COUNT = {"full": 100_000, "quick": 10_000, "tiny": 200}
TOPIC = "ocfaj/bench_replay/event"
BATCH = 500
TARGET_RATE = 2000.0
#: the broker must queue everything for the offline subscriber, not mosquitto's default 1,000.
BROKER_CONFIG = "max_queued_messages 0\nmax_queued_bytes 0"
DRAIN_TIMEOUT = 300.0
SUBSCRIBER = "bench-replay-subscriber"


def _client(port: int) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", port, identifier=SUBSCRIBER, clean_session=False,
                          protocol=aiomqtt.ProtocolVersion.V311)


async def _subscribe_persistently(port: int) -> None:
    async with _client(port) as client:
        await client.subscribe(TOPIC, qos=1)


async def _collect(port: int, count: int, began: float) -> tuple[set[int], float, float]:
    """Sequence numbers received, seconds to the first and to the last message."""
    seen: set[int] = set()
    first = last = 0.0
    async with asyncio.timeout(DRAIN_TIMEOUT):
        while True:
            with contextlib.suppress(aiomqtt.MqttError):
                async with _client(port) as client:
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        seen.add(int(json.loads(message.payload)["seq"]))
                        now = time.monotonic() - began
                        first = first or now
                        last = now
                        if len(seen) >= count:
                            return seen, first, last
            await asyncio.sleep(0.05)  # the broker is still starting


async def _raw(port: int, count: int) -> float:
    """Seconds for a bare aiomqtt client to publish ``count`` QoS 1 messages, acknowledged."""
    async with aiomqtt.Client("127.0.0.1", port, max_inflight_messages=100) as client:
        client.pending_calls_threshold = BATCH + 50
        began = time.monotonic()
        for start in range(0, count, BATCH):
            await asyncio.gather(*(client.publish(f"{TOPIC}/raw", b'{"seq": %d}' % i, qos=1)
                                   for i in range(start, min(count, start + BATCH))))
        return time.monotonic() - began


def _fill(state_dir: Path, count: int) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(state_dir / FILE_NAME, max_messages=count * 2, max_bytes=1 << 30)
    outbox.open()
    try:
        for i in range(count):
            outbox.append(Message(TOPIC, json.dumps({"seq": i}).encode(), qos=1))
        outbox.commit()
    finally:
        outbox.close()


def run(directory: Path, size: str) -> Report:
    count = COUNT[size]
    report = Report(NAME)
    broker = Mosquitto(directory / "mosquitto", persistence=True, config_extra=BROKER_CONFIG)
    broker.start()
    try:
        raw_seconds = asyncio.run(_raw(broker.port, count))
        asyncio.run(_subscribe_persistently(broker.port))
        broker.stop()  # the outage
        gateway_dir = directory / "gateway"
        _fill(gateway_dir / "state", count)
        gateway = rig.Gateway(rig.GatewaySettings(
            bus="unix:path=/nonexistent", mqtt_port=broker.port,
            # Room for the gateway's own bridge messages, so none of ours is displaced.
            mqtt_extra=f"outbox_max_messages = {count + 1000}"), gateway_dir)
        with gateway:
            cpu = gateway.cpu_seconds()
            began = time.monotonic()
            broker.start()
            seen, first, last = asyncio.run(_collect(broker.port, count, began))
            cpu = gateway.cpu_seconds() - cpu
            rss = gateway.rss_mib()
    finally:
        broker.stop()
    raw_rate = rate(count, raw_seconds)
    replay_rate = rate(count, last - first)
    lost = count - len(seen & set(range(count)))
    report.lost = lost
    report.add("raw aiomqtt QoS 1 publish rate", raw_rate, "msg/s")
    report.add("replay rate", replay_rate, "msg/s", baseline=raw_rate,
               target=f">= {TARGET_RATE:,.0f} msg/s", met=replay_rate >= TARGET_RATE)
    report.add("time to drain (broker back -> last message)", last, "s",
               note=f"first message after {first:.2f} s (reconnect back-off)")
    report.add("lost messages", lost, "messages", target="0", met=lost == 0)
    report.add("gateway CPU per replayed message", cpu / count * 1e6, "us CPU")
    report.add("gateway RSS during replay", rss, "MiB")
    report.notes.append(
        f"{count:,} event messages (never coalesced) in the outbox; the gateway had no "
        "AllJoyn bus and no OCF devices, so replay is all it did. The raw client publishes "
        f"in batches of {BATCH} with 100 in flight, as the gateway's broker link does.")
    return report
