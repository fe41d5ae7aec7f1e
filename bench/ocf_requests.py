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
class Load:
    """Sequential latencies (ms) and the rate with ``in_flight`` requests at once."""

    latencies: list[float]
    rate: float
    in_flight: int


async def sequential(client: OcfClient, endpoint: Endpoint, href: str,
                     count: int) -> list[float]:
    """``count`` GETs one after the other, after a warm-up; milliseconds each."""
    for _ in range(min(WARM_UP, count)):
        await client.get(endpoint, href)
    times = []
    for _ in range(count):
        began = time.perf_counter()
        await client.get(endpoint, href)
        times.append((time.perf_counter() - began) * 1000)
    return times


async def rate(client: OcfClient, endpoint: Endpoint, href: str, count: int,
               in_flight: int) -> float:
    """GETs per second with ``in_flight`` of them outstanding until ``count`` are answered."""
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await client.get(endpoint, href)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return count / (time.perf_counter() - began)


async def load(client: OcfClient, endpoint: Endpoint, href: str, count: int,
               in_flight: int) -> Load:
    latencies = await sequential(client, endpoint, href, count)
    return Load(latencies, await rate(client, endpoint, href, count, in_flight), in_flight)


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
