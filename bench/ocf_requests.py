"""GETs with the gateway's OCF client, over plain CoAP or coaps: latency, rate, handshakes.

Layer: benchmark tooling. The client is ``bridge.ocf.coap_client.OcfClient`` (aiocoap, and
for ``coaps://`` the gateway's DTLS transport ``bridge.ocf.coaps``), the same code the
gateway uses to reach OCF devices, so plain and secured numbers differ only by DTLS.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bridge.ocf.coap_client import OcfClient
from bridge.ocf.links import Endpoint

WARM_UP = 20


@dataclass(frozen=True)
class Target:
    """What one variant GETs, and with which client."""

    client: OcfClient
    endpoint: Endpoint
    href: str


@dataclass(frozen=True)
class Load:
    """Sequential latencies (ms) and the rate with ``in_flight`` requests at once."""

    latencies: list[float]
    rate: float
    in_flight: int


#: Rounds the rate measurement alternates between the variants.
ROUNDS = 10


async def _burst(target: Target, count: int, in_flight: int) -> float:
    """Seconds for ``count`` GETs with ``in_flight`` of them outstanding."""
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await target.client.get(target.endpoint, target.href)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.perf_counter() - began


async def compare(targets: list[Target], count: int, in_flight: int) -> list[Load]:
    """``count`` sequential GETs and ``count`` GETs ``in_flight`` at once of each target,
    interleaved (one GET, or one round of ``count / ROUNDS``, of each in turn), so that a
    machine whose load changes from second to second loads every variant alike."""
    for target in targets:
        for _ in range(min(WARM_UP, count)):
            await target.client.get(target.endpoint, target.href)
    times: list[list[float]] = [[] for _ in targets]
    for _ in range(count):
        for target, samples in zip(targets, times, strict=True):
            began = time.perf_counter()
            await target.client.get(target.endpoint, target.href)
            samples.append((time.perf_counter() - began) * 1000)
    per_round = max(1, count // ROUNDS)
    spent = [0.0 for _ in targets]
    for _ in range(max(1, count // per_round)):
        for k, target in enumerate(targets):
            spent[k] += await _burst(target, per_round, in_flight)
    sent = per_round * max(1, count // per_round)
    return [Load(samples, sent / seconds, in_flight)
            for samples, seconds in zip(times, spent, strict=True)]


async def handshakes(client: OcfClient, endpoint: Endpoint, href: str,
                     count: int) -> list[float]:
    """Milliseconds of ``count`` new DTLS sessions, each measured as the first GET of a
    session (handshake plus one request) after the client closed every session it had."""
    if client.coaps is None:
        raise ValueError("handshakes need a client with a keyring (coaps)")
    await client.get(endpoint, href)
    times = []
    for _ in range(count):
        client.coaps.close_sessions()
        before = client.coaps.handshakes
        began = time.perf_counter()
        await client.get(endpoint, href)
        times.append((time.perf_counter() - began) * 1000)
        if client.coaps.handshakes != before + 1:
            raise RuntimeError(f"expected one new DTLS handshake with {endpoint.uri}, "
                               f"saw {client.coaps.handshakes - before}")
    return times
