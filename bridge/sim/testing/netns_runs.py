"""Which named network namespaces belong to which test run, and which may be cleaned up.

Layer: ``bridge.sim.testing`` (test kit, root only). Named namespaces live machine-wide in
``/run/netns``, so a run must never delete what another run, another user or another checkout
made. Every namespace a run creates is named ``ocfaj-<run id>-...``, the run id being the pid
and a random token, and before the first one is created the run writes a record
``/run/ocfaj-netns/<run id>.json``: owner pid, that process's start time, the user behind the
run and the checkout the kit was loaded from.

``remove_stale_namespaces()`` deletes the namespaces of a recorded run only when all of this
holds: its owner process is gone (the pid is absent, or now belongs to a process that started
later), the record names the same user and the same checkout as this run. Namespaces without a
record, or recorded by a run that is alive, by another user or from another checkout, are left
alone. At exit a run removes its record when none of its namespaces is left.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
RUNS_DIR = Path("/run/ocfaj-netns")
NAMESPACE_PREFIX = "ocfaj-"
CHECKOUT = str(Path(__file__).resolve().parents[3])
"""The directory holding the ``bridge`` package this kit was loaded from."""

_run: tuple[int, str] | None = None
_recorded: set[str] = set()


def run_id() -> str:
    """This process's run id, ``<pid>.<token>``; a forked child gets one of its own."""
    global _run
    pid = os.getpid()
    if _run is None or _run[0] != pid:
        _run = (pid, f"{pid}.{secrets.token_hex(3)}")
    return _run[1]


def run_prefix() -> str:
    """The name prefix of every namespace this run creates, ``ocfaj-<run id>-``."""
    return f"{NAMESPACE_PREFIX}{run_id()}-"


def run_user() -> int:
    """The user behind this run: the one who called sudo, else the real user id."""
    sudo_uid = os.environ.get("SUDO_UID", "")
    return int(sudo_uid) if sudo_uid.isdigit() else os.getuid()


def record_run(runs_dir: Path = RUNS_DIR) -> None:
    """Write this run's record, once, before it creates its first namespace."""
    current = run_id()
    if current in _recorded:
        return
    runs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    record = {
        "pid": os.getpid(),
        "start_time": process_start_time(os.getpid()),
        "uid": run_user(),
        "checkout": CHECKOUT,
    }
    path = runs_dir / f"{current}.json"
    path.write_text(json.dumps(record))
    _recorded.add(current)
    atexit.register(_forget_run_if_empty, current, path)


def run_namespaces(run: str) -> list[str]:
    """The namespaces of run ``run`` that still exist."""
    if not NETNS_DIR.is_dir():
        return []
    prefix = f"{NAMESPACE_PREFIX}{run}-"
    return sorted(e.name for e in NETNS_DIR.iterdir() if e.name.startswith(prefix))


def remove_stale_namespaces(runs_dir: Path = RUNS_DIR) -> list[str]:
    """Delete the namespaces of this user's and this checkout's dead runs; return their names."""
    if not runs_dir.is_dir():
        return []
    removed: list[str] = []
    for path in sorted(runs_dir.glob("*.json")):
        run = path.name.removesuffix(".json")
        record = _read_record(path)
        if record is None or not _is_ours_and_dead(record):
            continue
        for netns in run_namespaces(run):
            done = subprocess.run(["ip", "netns", "delete", netns], check=False,
                                  capture_output=True, text=True)
            if done.returncode == 0:
                removed.append(netns)
            else:
                log.warning("stale namespace %s not deleted: %s", netns, done.stderr.strip())
        if not run_namespaces(run):
            path.unlink(missing_ok=True)
    if removed:
        log.info("deleted namespaces of finished test runs: %s", ", ".join(removed))
    return removed


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat``), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])


def _is_ours_and_dead(record: dict[str, Any]) -> bool:
    if record.get("uid") != run_user() or record.get("checkout") != CHECKOUT:
        return False
    pid = record.get("pid")
    if not isinstance(pid, int):
        return False
    started = process_start_time(pid)
    return started is None or started != record.get("start_time")


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _forget_run_if_empty(run: str, path: Path) -> None:
    if os.getpid() == int(run.split(".", 1)[0]) and not run_namespaces(run):
        path.unlink(missing_ok=True)
