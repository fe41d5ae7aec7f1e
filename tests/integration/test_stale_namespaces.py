"""Stale-namespace cleanup deletes only what a dead run of this user and checkout created.

Named network namespaces are machine-wide (``/run/netns``): these tests create real ones named
like other runs' and check that ``remove_stale_namespaces`` leaves them alone.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.sim.testing.netns import NETNS_DIR, OcfNetwork, own_namespaces, require_root
from bridge.sim.testing.netns_runs import (
    CHECKOUT,
    RUNS_DIR,
    process_start_time,
    remove_stale_namespaces,
    run_id,
    run_user,
)


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def _record(runs_dir: Path, run: str, **fields: object) -> None:
    record: dict[str, object] = {"pid": os.getpid(), "start_time": process_start_time(
        os.getpid()), "uid": run_user(), "checkout": CHECKOUT}
    record.update(fields)
    (runs_dir / f"{run}.json").write_text(json.dumps(record))


@pytest.fixture
def made() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


def _add(made: list[str], name: str) -> str:
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    made.append(name)
    return name


def test_only_namespaces_of_dead_runs_of_this_user_and_checkout_are_removed(
        tmp_path: Path, made: list[str]) -> None:
    require_root()
    dead = _dead_pid()
    unrecorded = _add(made, f"ocfaj-{dead}-1-unrecorded")
    other_user = _add(made, f"ocfaj-{dead}.aaaaa1-1-other-user")
    _record(tmp_path, f"{dead}.aaaaa1", pid=dead, uid=run_user() + 1)
    other_checkout = _add(made, f"ocfaj-{dead}.aaaaa2-1-other-checkout")
    _record(tmp_path, f"{dead}.aaaaa2", pid=dead, checkout="/elsewhere/ocfaj")
    alive = _add(made, f"ocfaj-{os.getpid()}.aaaaa3-1-alive")
    _record(tmp_path, f"{os.getpid()}.aaaaa3")
    # Our pid, but a start time of another process: the recorded owner is gone, the pid reused.
    reused = _add(made, f"ocfaj-{os.getpid()}.aaaaa4-1-reused")
    _record(tmp_path, f"{os.getpid()}.aaaaa4", start_time=-1)
    ours = _add(made, f"ocfaj-{dead}.aaaaa5-1-ours")
    _record(tmp_path, f"{dead}.aaaaa5", pid=dead)

    removed = remove_stale_namespaces(tmp_path)

    assert sorted(removed) == sorted([reused, ours])
    for survivor in (unrecorded, other_user, other_checkout, alive):
        assert (NETNS_DIR / survivor).exists(), survivor
    assert not (NETNS_DIR / ours).exists() and not (NETNS_DIR / reused).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        f"{dead}.aaaaa1.json", f"{dead}.aaaaa2.json", f"{os.getpid()}.aaaaa3.json"])


def test_a_network_records_its_run_and_names_namespaces_with_the_run_id() -> None:
    require_root()
    network = OcfNetwork()
    try:
        network.setup()
        host = network.add_host("named")
        assert host.netns == f"ocfaj-{run_id()}-{network.number}-named"
        assert own_namespaces() == [host.netns]
        record = json.loads((RUNS_DIR / f"{run_id()}.json").read_text())
        assert record == {"pid": os.getpid(), "start_time": process_start_time(os.getpid()),
                          "uid": run_user(), "checkout": CHECKOUT}
        # This run is alive: its own cleanup leaves its namespace in place.
        assert host.netns not in remove_stale_namespaces()
        assert (NETNS_DIR / host.netns).exists()
    finally:
        network.close()
    assert own_namespaces() == []
