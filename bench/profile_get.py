"""Where the gateway spends its time answering GET on a virtual OCF device (py-spy).

Layer: benchmark tooling. The raw-UDP generator of ``bench.coap_load`` keeps 50 GETs of the
virtual OCF device's ``/switch`` in flight (so the gateway, not the client, is the limit)
while ``py-spy record`` samples the real gateway process; the collapsed stacks are summed as in
``bench.profile``: self time by leaf frame, inclusive time by function of ``bridge/`` and, so
the split between the protocol library and the gateway's own code is visible, inclusive time
by library (aiocoap, cbor2, asyncio) at the first frame outside the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from bench.coap_load import CoapLoad
from bench.pair import bridged_pair
from bench.profile import _py_spy, samples, summarise
from bench.stats import Report, rate

NAME = "profile_get"
COUNT = {"full": 10000, "quick": 3000, "tiny": 300}
IN_FLIGHT = 50
AREAS = ("bridge/", "aiocoap/", "cbor2", "logging/", "asyncio/", "socket", "selectors")


def by_area(collapsed: str) -> tuple[list[tuple[str, int]], int]:
    """Self time by area: the area of the innermost frame that belongs to one of ``AREAS``
    (a leaf in the C parts of the interpreter counts for the frame that called it)."""
    areas: collections.Counter[str] = collections.Counter()
    total = 0
    for stack, count in samples(collapsed):
        total += count
        area = "other"
        for frame in reversed(stack):
            found = next((a for a in AREAS if a in frame), None)
            if found is not None:
                area = found.rstrip("/")
                break
        areas[area] += count
    return areas.most_common(), total


def inclusive(collapsed: str, needle: str, top: int = 15) -> list[tuple[str, int]]:
    """Samples per frame containing ``needle``, counting each stack once per frame."""
    frames: collections.Counter[str] = collections.Counter()
    for stack, count in samples(collapsed):
        for frame in {f for f in stack if needle in f}:
            frames[frame] += count
    return frames.most_common(top)


async def measure(directory: Path, count: int) -> Report:
    report = Report(NAME)
    out = directory / "gateway-get-profile.txt"
    async with bridged_pair(directory, ["switch"]) as pair:
        gateway = urlsplit(pair.virtual_ocf)
        assert gateway.hostname and gateway.port
        load = CoapLoad(gateway.hostname, gateway.port, "/switch")
        await load.run(100, IN_FLIGHT)  # warm-up
        spy = await asyncio.create_subprocess_exec(
            _py_spy(), "record", "--pid", str(pair.gateway.pid), "--format", "raw",
            "--output", str(out), "--rate", "500", "--nonblocking",
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        await asyncio.sleep(1.0)  # py-spy attaches
        result = await load.run(count, IN_FLIGHT)
        await asyncio.sleep(0.5)  # a last round of samples
        spy.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
        _, err = await spy.communicate()
    if not out.exists():
        raise RuntimeError(f"py-spy wrote no profile: {err.decode(errors='replace')}")
    collapsed = out.read_text()
    leaves, ours, total = summarise(collapsed)
    areas, _ = by_area(collapsed)
    report.add("profiled GET rate (50 in flight)", rate(len(result.latencies_ms),
                                                        result.seconds), "req/s")
    report.add("samples", total, "samples")
    report.notes.append("Self time by area (innermost frame of aiocoap, bridge, ...):")
    report.notes += [f"    {n / total:6.1%}  {area}" for area, n in areas]
    report.notes.append("Leaf frames (self time) of the gateway while it answered GETs:")
    report.notes += [f"    {n / total:6.1%}  {frame}" for frame, n in leaves]
    report.notes.append("Gateway functions (inclusive):")
    report.notes += [f"    {n / total:6.1%}  {frame}" for frame, n in ours]
    report.notes.append("aiocoap functions (inclusive):")
    report.notes += [f"    {n / total:6.1%}  {frame}"
                     for frame, n in inclusive(collapsed, "aiocoap/")]
    return report


def run(directory: Path, size: str) -> Report:
    return asyncio.run(measure(directory, COUNT[size]))
