"""Benchmark 2: notification throughput through the gateway, and its CPU per notification.

A device changes a temperature reading as fast as the pipeline takes it: value ``i`` is set
only once every consumer has seen value ``i - WINDOW``, so queues stay bounded, nothing is
dropped for lack of buffer space, and the rate is that of the slowest stage. Legs:

* raw OCF: an aiocoap observer on the OCF simulator (the baseline of the target);
* raw D-Bus: a dbus-fast listener on the AllJoyn simulator's ``PropertiesChanged``;
* OCF -> gateway -> D-Bus ``PropertiesChanged`` and MQTT, both consumed at once;
* AllJoyn -> gateway -> OCF observers and MQTT, both consumed at once.

Every value has its own number, so a consumer's count of distinct values shows what was lost.
MQTT state is retained and idempotent: the gateway's outbox may replace a queued state by a
newer one (``superseded``), which is not a loss as long as the last state arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.pair import Pair, bridged_pair
from bench.stats import Report, percentile, rate
from bench.watchers import CoapObserver, MqttWatcher, Progress, SignalListener

NAME = "notify"
COUNT = {"full": 6000, "quick": 1200, "tiny": 40}
WINDOW = 50
#: values of leg k start at FIRST * (k + 1), so that no earlier state (a simulator's default,
#: a retained MQTT state of the previous leg) is mistaken for one of this leg's values.
FIRST = 1_000_000.0
TARGET_SHARE = 0.8
STALL_SECONDS = 10.0
#: the fixed pace of the latency legs (values per second), and how many values they send.
PACED_RATE = 500.0
PACED_COUNT = {"full": 2500, "quick": 1000, "tiny": 40}


@dataclass
class Leg:
    name: str
    first: float
    seconds: float
    sent: int
    consumers: list[tuple[Progress, bool]]
    """Each consumer with whether it must see every value (False: state may be superseded)."""
    cpu_seconds: float = 0.0


async def _drive(set_value: Callable[[float], object], consumers: Sequence[Progress],
                 first: float, count: int) -> float:
    """Set ``count`` values under the window; seconds until every consumer saw the last one."""
    began = time.perf_counter()
    last = first + count - 1
    for i in range(count):
        value = first + i
        while i >= WINDOW and min(c.highest for c in consumers) < value - WINDOW:
            await _progress(consumers)
        set_value(value)
        # Let the device's observation task send this value before the next replaces it.
        await asyncio.sleep(0)
    while min(c.highest for c in consumers) < last:
        await _progress(consumers)
    return max(c.highest_at for c in consumers) - began


async def _progress(consumers: Sequence[Progress]) -> None:
    for c in consumers:
        c.changed.clear()
    waits = [asyncio.ensure_future(c.changed.wait()) for c in consumers]
    try:
        done, _ = await asyncio.wait(waits, timeout=STALL_SECONDS,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    if not done:
        state = ", ".join(f"{c.label} at {c.highest:.0f}" for c in consumers)
        raise TimeoutError(f"notifications stalled for {STALL_SECONDS} s: {state}")


async def _paced(set_value: Callable[[float], object], consumers: Sequence[Progress],
                 first: float, count: int) -> dict[float, float]:
    """Set ``count`` values at :data:`PACED_RATE` per second (on a schedule, not after the
    previous one arrived); value -> when it was set. Returns once every consumer has the
    last value (or stalled)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    sent: dict[float, float] = {}
    for i in range(count):
        delay = began + i / PACED_RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        value = first + i
        sent[value] = time.perf_counter()
        set_value(value)
    last = first + count - 1
    while min(c.highest for c in consumers) < last:
        await _progress(consumers)
    return sent


def _latencies(sent: dict[float, float], progress: Progress) -> list[float]:
    """Milliseconds from each value's change at the device to its arrival at ``progress``."""
    return [(progress.arrived[v] - at) * 1000 for v, at in sent.items() if v in progress.arrived]


async def _latency_legs(pair: Pair, count: int, report: Report) -> None:
    """End-to-end latency at a fixed pace: a device's change to the D-Bus signal, to the OCF
    notification and to the MQTT message a subscriber gets, beside the raw protocols."""
    ctx = pair.coap.context
    path = "/temperature"
    legs: list[tuple[str, str, float, list[tuple[object, Progress]]]] = []
    o, s = Progress("raw OCF observer"), Progress("raw D-Bus listener")
    legs.append(("raw aiocoap observe", "ocf", FIRST * 5, [
        (CoapObserver(ctx, pair.ocf_uri + path, "temperature", o), o)]))
    legs.append(("raw dbus-fast signals", "alljoyn", FIRST * 6, [
        (SignalListener(pair.bus, pair.alljoyn_name, path, "CurrentValue", s), s)]))
    d, m = Progress("D-Bus signal"), Progress("MQTT message")
    legs.append(("OCF change", "ocf", FIRST * 7, [
        (SignalListener(pair.bus, pair.virtual_alljoyn, path, "CurrentValue", d), d),
        (MqttWatcher(pair.mqtt_port, "ocfaj/bench_ocf_device", "temperature", m), m)]))
    n, m2 = Progress("OCF notification"), Progress("MQTT message")
    legs.append(("AllJoyn change", "alljoyn", FIRST * 8, [
        (CoapObserver(ctx, pair.virtual_ocf + path, "temperature", n), n),
        (MqttWatcher(pair.mqtt_port, "ocfaj/bench_alljoyn_device", "temperature", m2), m2)]))
    for name, side, first, watchers in legs:
        for watcher, _ in watchers:
            await watcher.start()  # type: ignore[attr-defined]
        cpu = pair.gateway.cpu_seconds()
        try:
            sent = await _paced(_temperature(pair, side), [p for _, p in watchers], first,
                                count)
        finally:
            for watcher, _ in watchers:
                await watcher.stop()  # type: ignore[attr-defined]
        if not name.startswith("raw"):
            # At a fixed pace the gateway does the same work per notification whatever the
            # machine's load (each change mostly in an event loop turn of its own), unlike
            # the legs at full speed, where a faster leg handles more per turn.
            report.add(f"latency at {PACED_RATE:.0f}/s: {name}: gateway CPU per notification",
                       (pair.gateway.cpu_seconds() - cpu) / count * 1e6, "us CPU")
        for _, progress in watchers:
            times = _latencies(sent, progress)
            label = f"latency at {PACED_RATE:.0f}/s: {name} -> {progress.label}"
            report.add(f"{label} p50", percentile(times, 0.5), "ms")
            report.add(f"{label} p99", percentile(times, 0.99), "ms")
            report.add(f"{label}: arrived", len(times), "values",
                       note=f"of {count}; MQTT may replace a queued state by a newer one")


def _temperature(pair: Pair, side: str) -> Callable[[float], object]:
    device = pair.ocf_sim.device if side == "ocf" else pair.alljoyn_sim.device
    return lambda v: device.set("temperature", {"temperature": v})


async def _leg(name: str, pair: Pair, side: str, count: int, first: float,
               watchers: list[tuple[object, Progress, bool]]) -> Leg:
    for watcher, _, _ in watchers:
        await watcher.start()  # type: ignore[attr-defined]
    cpu = pair.gateway.cpu_seconds()
    try:
        seconds = await _drive(_temperature(pair, side), [p for _, p, _ in watchers], first,
                               count)
    finally:
        for watcher, _, _ in watchers:
            await watcher.stop()  # type: ignore[attr-defined]
    return Leg(name, first, seconds, count, [(p, strict) for _, p, strict in watchers],
               pair.gateway.cpu_seconds() - cpu)


async def measure(directory: Path, count: int, paced: int) -> Report:
    report = Report(NAME)
    async with bridged_pair(directory, ["temperature"], mqtt=True) as pair:
        ctx = pair.coap.context
        path = "/temperature"
        legs = []
        p = Progress("OCF observer")
        legs.append(await _leg("raw aiocoap observe", pair, "ocf", count, FIRST * 1, [
            (CoapObserver(ctx, pair.ocf_uri + path, "temperature", p), p, True)]))
        p = Progress("D-Bus listener")
        legs.append(await _leg("raw dbus-fast signals", pair, "alljoyn", count, FIRST * 2, [
            (SignalListener(pair.bus, pair.alljoyn_name, path, "CurrentValue", p), p, True)]))
        d, m = Progress("D-Bus PropertiesChanged"), Progress("MQTT state")
        legs.append(await _leg("OCF -> D-Bus + MQTT", pair, "ocf", count, FIRST * 3, [
            (SignalListener(pair.bus, pair.virtual_alljoyn, path, "CurrentValue", d), d, True),
            (MqttWatcher(pair.mqtt_port, "ocfaj/bench_ocf_device", "temperature", m), m, False)]))
        o, m = Progress("OCF observer"), Progress("MQTT state")
        legs.append(await _leg("AllJoyn -> OCF + MQTT", pair, "alljoyn", count, FIRST * 4, [
            (CoapObserver(ctx, pair.virtual_ocf + path, "temperature", o), o, True),
            (MqttWatcher(pair.mqtt_port, "ocfaj/bench_alljoyn_device", "temperature", m), m,
             False)]))
        await _latency_legs(pair, paced, report)
    raw_observe = rate(count, legs[0].seconds)
    for leg in legs:
        leg_rate = rate(count, leg.seconds)
        bridged = not leg.name.startswith("raw")
        report.add(f"{leg.name} rate", leg_rate, "notif/s",
                   baseline=raw_observe if bridged else float("nan"),
                   target=f">= {TARGET_SHARE:.0%} of raw observe" if bridged else "",
                   met=leg_rate >= TARGET_SHARE * raw_observe if bridged else None)
        for progress, strict in leg.consumers:
            got = len([v for v in progress.values if leg.first <= v < leg.first + count])
            missing = count - got
            if strict:
                report.lost += missing
                report.add(f"{leg.name}: lost at {progress.label}", missing, "values",
                           target="0", met=missing == 0)
            else:
                report.add(f"{leg.name}: superseded at {progress.label}", missing, "states",
                           note="retained state replaced by a newer one in the outbox")
                final = progress.highest >= leg.first + count - 1
                report.lost += 0 if final else 1
                report.add(f"{leg.name}: last state at {progress.label}", float(final),
                           "1 = yes", target="1", met=final)
        if bridged:
            report.add(f"{leg.name}: gateway CPU per notification",
                       leg.cpu_seconds / count * 1e6, "us CPU")
            report.add(f"{leg.name}: gateway CPU load", leg.cpu_seconds / leg.seconds * 100,
                       "% of a core")
    report.notes.append(
        f"Latency legs: {paced} values set at a fixed {PACED_RATE:.0f} per second; each "
        "consumer's arrival time of each value minus the time the simulated device set it "
        "(simulators and consumers in the benchmark's process, one clock); MQTT is measured "
        "at a subscriber, so it includes the broker's hop.")
    report.notes.append(
        f"{count} values per leg, at most {WINDOW} ahead of the slowest consumer. Simulators "
        "and consumers share the benchmark's process; the gateway is its own process, whose "
        "CPU time (utime+stime from /proc) is divided by the values it carried.")
    return report


def run(directory: Path, size: str) -> Report:
    return asyncio.run(measure(directory, COUNT[size], PACED_COUNT[size]))
