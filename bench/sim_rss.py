"""Memory per simulated device when one process hosts many: ``python -m bench.sim_rss``.

Layer: benchmark tooling for the simulation kit (issue 10). For each N (default 10, 100, 300)
a fresh child process loads the models, then starts N simulated OCF devices (each its own
aiocoap server context on 127.0.0.1, unicast only) and N simulated AllJoyn devices (each its
own dbus-fast connection to a private dbus-daemon), reading its own VmRSS and descriptor count
from /proc before and after each side. It prints a table (or ``--json``): KiB of RSS and
descriptors per device on each side. Nothing leaves loopback and the private bus: no multicast.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.procstat import rss_mib

DEFAULT_COUNTS = (10, 100, 300)


def _rss_kib() -> int:
    return round(rss_mib(os.getpid()) * 1024)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def measure(count: int, bus: str) -> dict[str, Any]:
    """Start ``count`` devices per side in this process; RSS and descriptors per device."""
    from bridge.alljoyn.bus import parse_bus
    from bridge.model import load_catalogue
    from bridge.sim.alljoyn import AllJoynSimServer, sim_device
    from bridge.sim.device import SimDevice
    from bridge.sim.ocf import OcfSimServer, SimListing

    catalogue = load_catalogue()
    listing = SimListing(multicast=False)
    base_rss, base_fds = _rss_kib(), _fds()
    ocf = [OcfSimServer(SimDevice.of_type(f"Lamp {i}", catalogue, "light"), listing,
                        bind_host="127.0.0.1") for i in range(count)]
    for ocf_server in ocf:
        await ocf_server.start()
    ocf_rss, ocf_fds = _rss_kib(), _fds()
    aj = [AllJoynSimServer(sim_device(f"AJ Lamp {i}", catalogue, "light"), parse_bus(bus))
          for i in range(count)]
    for aj_server in aj:
        await aj_server.start()
    aj_rss, aj_fds = _rss_kib(), _fds()
    for ocf_server in ocf:
        await ocf_server.stop()
    for aj_server in aj:
        await aj_server.stop()
    return {"devices_per_side": count, "base_rss_kib": base_rss,
            "ocf_kib_per_device": round((ocf_rss - base_rss) / count, 1),
            "ocf_fds_per_device": round((ocf_fds - base_fds) / count, 2),
            "alljoyn_kib_per_device": round((aj_rss - ocf_rss) / count, 1),
            "alljoyn_fds_per_device": round((aj_fds - ocf_fds) / count, 2),
            "total_rss_kib": aj_rss}


def _child(count: int, bus: str) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(json.dumps(asyncio.run(measure(count, bus))))


def run(counts: tuple[int, ...]) -> list[dict[str, Any]]:
    from bridge.sim.testing.dbus import DBusDaemon

    results = []
    with tempfile.TemporaryDirectory(prefix="ocfaj-rss-") as tmp:
        daemon = DBusDaemon(Path(tmp) / "dbus")
        daemon.start()
        try:
            for count in counts:
                # A fresh process per N, so one size's garbage does not count toward the next.
                done = subprocess.run([sys.executable, "-m", "bench.sim_rss", "--child",
                                       str(count), "--bus", daemon.address],
                                      capture_output=True, text=True, check=True, timeout=600)
                results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        finally:
            daemon.stop()
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| devices per side | OCF KiB/device | OCF fds/device | AllJoyn KiB/device "
             "| AllJoyn fds/device | process RSS MiB |", "|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['devices_per_side']} | {r['ocf_kib_per_device']} "
                     f"| {r['ocf_fds_per_device']} | {r['alljoyn_kib_per_device']} "
                     f"| {r['alljoyn_fds_per_device']} | {r['total_rss_kib'] / 1024:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_rss", description=__doc__)
    parser.add_argument("counts", nargs="*", type=int, default=list(DEFAULT_COUNTS))
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bus", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.bus)
        return
    results = run(tuple(args.counts))
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    main()
