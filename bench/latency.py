"""Benchmark 1: bridged request latency, p50 and p99, against the raw round trips.

An AllJoyn consumer reads (``Properties.Get``) and switches (``SwitchOn``/``SwitchOff``) the
gateway's AllJoyn copy of an OCF light; a CoAP client reads (GET) and switches (POST) the
gateway's OCF copy of an AllJoyn light. In the same run the same operations go straight to
the simulated devices: raw CoAP RTT and raw D-Bus RTT. The gateway's added latency is the
bridged p50 minus (raw CoAP p50 + raw D-Bus p50), since a bridged request crosses both.
Requests are sequential, one in flight, so the numbers are latencies, not throughput.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.pair import Pair, bridged_pair
from bench.rig import PROPERTIES, dbus_call
from bench.stats import Report, percentile

NAME = "latency"
SAMPLES = {"full": 1000, "quick": 150, "tiny": 10}
TARGET_ADDED_MS = 1.0
ON_OFF = "org.alljoyn.SmartSpaces.Operation.OnOffStatus"
ON = "org.alljoyn.SmartSpaces.Operation.OnControl"
OFF = "org.alljoyn.SmartSpaces.Operation.OffControl"

Operation = Callable[[int], Awaitable[object]]


async def _sample(operation: Operation, count: int) -> list[float]:
    for i in range(min(20, count)):  # warm-up: caches, first-use imports, ARP-free loopback
        await operation(i)
    times = []
    for i in range(count):
        began = time.perf_counter()
        await operation(i)
        times.append((time.perf_counter() - began) * 1000)
    return times


def _operations(pair: Pair) -> dict[str, Operation]:
    bus, coap = pair.bus, pair.coap

    def dbus_get(name: str) -> Operation:
        return lambda i: dbus_call(bus, name, "/switch", PROPERTIES, "Get", "ss", [ON_OFF, "IsOn"])

    def dbus_switch(name: str) -> Operation:
        return lambda i: dbus_call(bus, name, "/switch", OFF if i % 2 else ON,
                                   "SwitchOff" if i % 2 else "SwitchOn")

    def coap_get(uri: str) -> Operation:
        return lambda i: coap.get(f"{uri}/switch")

    def coap_post(uri: str) -> Operation:
        return lambda i: coap.post(f"{uri}/switch", {"value": i % 2 == 0})

    return {
        "raw CoAP GET": coap_get(pair.ocf_uri),
        "raw CoAP POST": coap_post(pair.ocf_uri),
        "raw D-Bus Get": dbus_get(pair.alljoyn_name),
        "raw D-Bus switch": dbus_switch(pair.alljoyn_name),
        "AllJoyn reads OCF": dbus_get(pair.virtual_alljoyn),
        "AllJoyn switches OCF": dbus_switch(pair.virtual_alljoyn),
        "OCF reads AllJoyn": coap_get(pair.virtual_ocf),
        "OCF switches AllJoyn": coap_post(pair.virtual_ocf),
    }


async def measure(directory: Path, samples: int) -> Report:
    report = Report(NAME)
    async with bridged_pair(directory, ["switch"]) as pair:
        times = {label: await _sample(op, samples) for label, op in _operations(pair).items()}
    p50 = {label: percentile(t, 0.5) for label, t in times.items()}
    for label in list(times)[:4]:
        report.add(f"{label} p50", p50[label], "ms")
        report.add(f"{label} p99", percentile(times[label], 0.99), "ms")
    bridged = {"AllJoyn reads OCF": ("raw CoAP GET", "raw D-Bus Get"),
               "AllJoyn switches OCF": ("raw CoAP POST", "raw D-Bus switch"),
               "OCF reads AllJoyn": ("raw CoAP GET", "raw D-Bus Get"),
               "OCF switches AllJoyn": ("raw CoAP POST", "raw D-Bus switch")}
    for label, (coap_raw, dbus_raw) in bridged.items():
        raw = p50[coap_raw] + p50[dbus_raw]
        report.add(f"{label} p50", p50[label], "ms", baseline=raw)
        report.add(f"{label} p99", percentile(times[label], 0.99), "ms",
                   baseline=percentile(times[coap_raw], 0.99)
                   + percentile(times[dbus_raw], 0.99))
        added = p50[label] - raw
        report.add(f"{label}: added p50", added, "ms", target=f"<= {TARGET_ADDED_MS:g} ms",
                   met=added <= TARGET_ADDED_MS)
    report.notes.append(
        f"{samples} sequential requests per operation after 20 warm-up requests. Baseline of a "
        "bridged operation = raw CoAP p50 + raw D-Bus p50 of the same operation, measured "
        "against the simulated devices directly in the same run.")
    return report


def run(directory: Path, size: str) -> Report:
    return asyncio.run(measure(directory, SAMPLES[size]))
