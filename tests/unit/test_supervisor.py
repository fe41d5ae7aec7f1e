"""The supervisor restarts a failing part with backoff while the others keep running."""

from __future__ import annotations

import asyncio

from bridge.daemon.supervisor import Supervisor
from bridge.sim.testing.procs import await_until


class Flaky:
    def __init__(self, name: str, start_failures: int = 0) -> None:
        self.name = name
        self.start_failures = start_failures
        self.starts = 0
        self.shutdowns = 0
        self.died = asyncio.Event()
        self.alive = asyncio.Event()
        self.started = asyncio.Event()

    async def start(self) -> None:
        self.starts += 1
        if self.start_failures:
            self.start_failures -= 1
            raise OSError("bus not there yet")
        self.died = asyncio.Event()
        self.alive.set()
        self.started.set()

    async def shutdown(self) -> None:
        self.shutdowns += 1
        self.alive.clear()

    async def wait(self) -> None:
        await self.died.wait()
        raise ConnectionError("connection lost")


async def test_failing_start_is_retried_and_dead_part_restarted() -> None:
    steady, flaky = Flaky("steady"), Flaky("flaky", start_failures=2)
    sup = Supervisor([steady, flaky], first_delay=0.01, max_delay=0.05)
    await sup.start()
    async with asyncio.timeout(5):
        await flaky.alive.wait()
    assert flaky.starts == 3 and sup.restarts["flaky"] == 2
    flaky.started.clear()
    flaky.died.set()
    async with asyncio.timeout(5):
        await flaky.started.wait()
    assert flaky.starts == 4 and flaky.shutdowns >= 3
    assert steady.starts == 1 and steady.alive.is_set()
    await sup.shutdown()
    await sup.shutdown()
    assert not steady.alive.is_set() and not flaky.alive.is_set()
    assert sup.running == {"steady": False, "flaky": False}


class Steady:
    """A part that cannot die: its ``wait`` ends only when cancelled."""

    name = "steady"

    def __init__(self) -> None:
        self.down = False
        self.waiting = False
        self.wait_cancelled_while_up = False

    async def start(self) -> None:
        pass

    async def shutdown(self) -> None:
        self.down = True

    async def wait(self) -> None:
        self.waiting = True
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.wait_cancelled_while_up = not self.down
            raise


async def test_shutdown_ends_the_wait_of_a_part_that_cannot_die() -> None:
    before = asyncio.all_tasks()
    part = Steady()
    sup = Supervisor([part])
    await sup.start()
    await await_until(lambda: part.waiting, timeout=5.0)
    await sup.shutdown()
    assert asyncio.all_tasks() - before == set(), "a task of the supervisor is left pending"
    assert part.down and not part.wait_cancelled_while_up, "its wait ended before its shutdown"
