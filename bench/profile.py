"""Step 5: where the gateway spends its time on the notification hot path (py-spy).

Layer: benchmark tooling. Runs the OCF -> D-Bus + MQTT leg of the notification benchmark
while ``py-spy record`` samples the real gateway process (root may attach to any process), then
sums the collapsed stacks: time by leaf frame (where CPU is burnt) and, inclusive, by function
of ``bridge/`` (which of our code paths leads there). py-spy is a development tool, not a
dependency of the gateway: install it with ``.venv/bin/pip install py-spy``.
"""

from __future__ import annotations

import asyncio
import collections
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench import notify
from bench.pair import bridged_pair
from bench.stats import Report
from bench.watchers import MqttWatcher, Progress, SignalListener

NAME = "profile"
COUNT = {"full": 6000, "quick": 1500, "tiny": 400}
TOP = 12


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def samples(collapsed: str) -> Iterator[tuple[list[str], int]]:
    """Each stack of py-spy's collapsed output (outermost frame first) with its samples."""
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if stack and count_text.isdigit():
            yield stack.split(";"), int(count_text)


def summarise(collapsed: str) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """(leaf frames by samples, bridge functions inclusive by samples, total samples)."""
    leaves: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    total = 0
    for frames, count in samples(collapsed):
        total += count
        leaves[frames[-1]] += count
        for frame in set(frames):
            if "bridge/" in frame:
                ours[frame] += count
    return leaves.most_common(TOP), ours.most_common(TOP), total


async def measure(directory: Path, count: int) -> Report:
    report = Report(NAME)
    out = directory / "gateway-profile.txt"
    async with bridged_pair(directory, ["temperature"], mqtt=True) as pair:
        spy = await asyncio.create_subprocess_exec(
            _py_spy(), "record", "--pid", str(pair.gateway.pid), "--format", "raw",
            "--output", str(out), "--rate", "250", "--nonblocking",
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        await asyncio.sleep(1.0)  # py-spy attaches
        d, m = Progress("D-Bus PropertiesChanged"), Progress("MQTT state")
        leg = await notify._leg("OCF -> D-Bus + MQTT (profiled)", pair, "ocf", count,
                                notify.FIRST, [
            (SignalListener(pair.bus, pair.virtual_alljoyn, "/temperature", "CurrentValue", d),
             d, True),
            (MqttWatcher(pair.mqtt_port, "ocfaj/bench_ocf_device", "temperature", m), m,
             False)])
        await asyncio.sleep(0.5)  # py-spy samples in the background; give it a last round
        spy.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
        _, err = await spy.communicate()
    if not out.exists():
        raise RuntimeError(f"py-spy wrote no profile: {err.decode(errors='replace')}")
    leaves, ours, total = summarise(out.read_text())
    report.add("profiled leg rate", count / leg.seconds, "notif/s")
    report.add("samples", total, "samples")
    report.notes.append("Leaf frames (self time) of the gateway during the profiled leg:")
    report.notes += [f"    {n / total:6.1%}  {frame}" for frame, n in leaves]
    report.notes.append("Gateway functions (inclusive):")
    report.notes += [f"    {n / total:6.1%}  {frame}" for frame, n in ours]
    return report


def run(directory: Path, size: str) -> Report:
    return asyncio.run(measure(directory, COUNT[size]))
