"""``ocfaj simulate --scenario NAME`` serves a shipped scenario named, not given as a path
(issue 14 point 11)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bridge.model import load_catalogue
from bridge.sim.processes import SimProcess
from bridge.sim.scenario import load_scenario
from bridge.sim.testing.dbus import DBusDaemon


async def test_simulate_serves_the_shipped_home_scenario_by_name(
        tmp_path: Path, dbus_daemon: DBusDaemon) -> None:
    home = load_scenario(Path("home"), load_catalogue())
    sim = SimProcess(["--scenario", "home", "--bus", dbus_daemon.address,
                      "--interface", "lo"], log_path=tmp_path / "sim.log")
    try:
        ready = await asyncio.to_thread(sim.start, len(home.devices), 30.0)
        assert sorted(event["device"] for event in ready) == sorted(d.name for d in home.devices)
    finally:
        await asyncio.to_thread(sim.stop)
