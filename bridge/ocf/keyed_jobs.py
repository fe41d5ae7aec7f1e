"""Jobs run several at a time, one after another for the same key.

Layer: ``bridge.ocf`` (asyncio only, no protocol library). The virtual OCF devices apply the
registry's changes through it: each change of a Thing waits for the one before it (a Thing
published, then withdrawn, must end withdrawn), while the changes of different Things run
side by side. Started one at a time, 1,000 Things waited for 1,000 server contexts in turn,
each started across several turns of a busy event loop (docs/ocf.md, "What is exposed").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger("ocfaj.ocf")


class KeyedJobs:
    """At most ``at_once`` jobs running; a key's jobs in the order they were given."""

    def __init__(self, at_once: int) -> None:
        self._slots = asyncio.Semaphore(at_once)
        #: the last job given for each key that has one running or waiting.
        self._last: dict[Hashable, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def add(self, key: Hashable, job: Callable[[], Awaitable[None]]) -> None:
        """Start ``job`` once a slot is free (this waits for the slot, not for the job). The
        job runs after the key's jobs given before it have ended, whatever their outcome;
        its own errors are its to handle (one it lets through is only logged)."""
        await self._slots.acquire()
        task = asyncio.ensure_future(self._run(self._last.get(key), job))
        self._last[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._ended(key, done))

    async def _run(self, before: asyncio.Task[None] | None,
                   job: Callable[[], Awaitable[None]]) -> None:
        try:
            if before is not None:
                await asyncio.wait({before})
            await job()
        finally:
            self._slots.release()

    def _ended(self, key: Hashable, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last.get(key) is task:
            del self._last[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("a job for %s failed", key, exc_info=task.exception())

    async def wait(self) -> None:
        """Until every job given so far has ended. Jobs are not cancelled: one cancelled while
        it starts a server would leave its socket open with nobody to close it."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))
