"""A simulator stops on SIGTERM or SIGINT while its stdin is still open.

Its stdin reader once ran in the event loop's executor, and ``asyncio.run`` waits for the
executor's threads when it ends: a signalled simulator whose controller kept stdin open (every
test, a user at a terminal) went on running until it was killed. Each test here stops the
process with a signal alone and requires a clean exit (status 0), which a killed process
cannot give.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bridge.sim.processes import SimProcess
from bridge.sim.testing.dbus import DBusDaemon


async def _stops_on(sim: SimProcess, signum: signal.Signals) -> int:
    assert sim.process is not None and sim.process.stdin is not None
    try:
        sim.process.send_signal(signum)
        # Generous: a loaded machine may be slow, but without the fix it never exits at all.
        return await asyncio.to_thread(sim.process.wait, 60)
    finally:
        await asyncio.to_thread(sim.stop)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_an_ocf_simulator_exits_cleanly_on_a_signal(
        tmp_path: Path, signum: signal.Signals) -> None:
    sim = SimProcess(["ocf", "--model", "light", "--name", "Signalled", "--interface", "lo",
                      "--unicast-only"], log_path=tmp_path / "sim.log")
    [ready] = await asyncio.to_thread(sim.start, 1, 30.0)
    assert ready["device"] == "Signalled"
    assert await _stops_on(sim, signum) == 0


async def test_an_alljoyn_simulator_exits_cleanly_on_sigterm(
        tmp_path: Path, dbus_daemon: DBusDaemon) -> None:
    sim = SimProcess(["alljoyn", "--model", "light", "--name", "Signalled",
                      "--bus", dbus_daemon.address], log_path=tmp_path / "sim.log")
    [ready] = await asyncio.to_thread(sim.start, 1, 30.0)
    assert ready["device"] == "Signalled"
    assert await _stops_on(sim, signal.SIGTERM) == 0
