"""KeyedJobs: several jobs at once, one key's jobs in the order given (the virtual devices'
publisher: a Thing published and then withdrawn must end withdrawn)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bridge.ocf.keyed_jobs import KeyedJobs


async def test_jobs_of_different_keys_run_together_up_to_the_limit() -> None:
    jobs = KeyedJobs(3)
    running, most = 0, 0
    release, three = asyncio.Event(), asyncio.Event()

    async def job() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == 3:
            three.set()
        await release.wait()
        running -= 1

    adding = asyncio.ensure_future(asyncio.gather(*(jobs.add(key, job) for key in range(5))))
    await three.wait()
    assert not adding.done()  # the fourth waits for a free slot
    release.set()
    await adding
    await jobs.wait()
    assert most == 3 and running == 0


async def test_one_keys_jobs_run_in_order_one_after_another() -> None:
    jobs = KeyedJobs(8)
    seen: list[str] = []
    overlapping = False
    busy = False

    def step(label: str, turns: int) -> object:
        async def job() -> None:
            nonlocal busy, overlapping
            overlapping |= busy
            busy = True
            for _ in range(turns):
                await asyncio.sleep(0)
            seen.append(label)
            busy = False
        return job

    for label, turns in [("publish", 5), ("update", 1), ("withdraw", 0)]:
        await jobs.add("thing", step(label, turns))  # type: ignore[arg-type]
    await jobs.wait()
    assert seen == ["publish", "update", "withdraw"]
    assert not overlapping


async def test_a_failed_job_is_logged_and_the_next_one_of_its_key_runs(
        caplog: pytest.LogCaptureFixture) -> None:
    jobs = KeyedJobs(2)
    ran: list[str] = []

    async def fails() -> None:
        raise RuntimeError("broken")

    async def after() -> None:
        ran.append("after")

    with caplog.at_level(logging.ERROR, logger="ocfaj.ocf"):
        await jobs.add("thing", fails)
        await jobs.add("thing", after)
        await jobs.wait()
    assert ran == ["after"]
    assert "a job for thing failed" in caplog.text and "broken" in caplog.text
