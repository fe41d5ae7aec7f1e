"""What a process costs, read from /proc: resident memory and CPU time.

Layer: benchmark tooling (Linux only). Reads ``/proc/<pid>/status`` (VmRSS, VmHWM) and
``/proc/<pid>/stat`` (utime + stime), so numbers are the kernel's own accounting of the real
gateway process, not an estimate from inside it.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/status")


def rss_mib(pid: int) -> float:
    """Resident set size now, in MiB."""
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    """Highest resident set size so far (VmHWM), in MiB."""
    return _status_kib(pid, "VmHWM") / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process used so far."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces; the fields after its closing ")" do not.
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def run_seconds(pid: int) -> float:
    """CPU time all threads of the process ran so far, from the scheduler's own count in
    nanoseconds (``/proc/<pid>/task/*/schedstat``); :func:`cpu_seconds` counts in ticks
    of 10 ms, too coarse for a few thousand requests of 20 µs each."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def minor_faults(pid: int) -> int:
    """Page faults the process took so far that needed no disk read (``minflt``): a fresh
    page of memory touched for the first time, for instance."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2:].split()[7])


def sleeps(pid: int) -> int:
    """How often the process's main thread gave up the CPU to wait
    (``voluntary_ctxt_switches``): an event loop does once per wake-up, in ``epoll_wait``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise KeyError(f"voluntary_ctxt_switches not in /proc/{pid}/status")
