"""A description of the machine a benchmark ran on, for the results document.

Layer: benchmark tooling; reads /proc and package metadata only.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

LIBRARIES = ("aiocoap", "cbor2", "dbus-fast", "aiomqtt", "paho-mqtt", "zeroconf")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


def describe() -> list[str]:
    """Lines of ``key: value`` for the document."""
    libs = ", ".join(f"{name} {_version(name)}" for name in LIBRARIES)
    return [
        f"CPU: {_cpu_model()}, {os.cpu_count()} logical cores "
        f"({len(os.sched_getaffinity(0))} usable)",
        f"memory: {_memory_gib():.1f} GiB",
        f"kernel: {platform.system()} {platform.release()} {platform.machine()}",
        f"Python: {platform.python_implementation()} {platform.python_version()}",
        f"libraries: {libs}",
    ]
