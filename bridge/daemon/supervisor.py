"""The supervisor: starts the gateway's parts in order, restarts a failing one with backoff.

Layer: ``bridge.daemon``. A part is anything with a name, ``async start()``, an idempotent
``async shutdown()`` and ``async wait()`` that returns or raises when the part has died. A part
that fails to start or dies later is shut down and started again after a delay that
doubles up to a limit, while every other part keeps running. Shutdown goes in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Protocol

log = logging.getLogger("ocfaj.supervisor")


class Part(Protocol):
    name: str

    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...

    async def wait(self) -> None:
        """Return (or raise) when the part has stopped working; never returns if it cannot die."""
        ...


class Supervisor:
    """Runs parts; see the module docstring."""

    def __init__(self, parts: list[Part], *, first_delay: float = 1.0,
                 max_delay: float = 60.0) -> None:
        self.parts = parts
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.restarts: dict[str, int] = {part.name: 0 for part in parts}
        self.running: dict[str, bool] = {part.name: False for part in parts}
        self._tasks: list[asyncio.Task[None]] = []
        #: part name -> the task that waits for the part to die (:meth:`_keep_running`).
        self._waiting: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    async def start(self) -> None:
        """Start every part in order; a part that fails is retried in the background."""
        for part in self.parts:
            if not await self._start_once(part):
                self._tasks.append(asyncio.create_task(self._keep_running(part, failed=True),
                                                       name=f"supervise-{part.name}"))
            else:
                self._tasks.append(asyncio.create_task(self._keep_running(part, failed=False),
                                                       name=f"supervise-{part.name}"))

    async def _start_once(self, part: Part) -> bool:
        try:
            await part.start()
        except asyncio.CancelledError:
            raise
        except Exception as err:
            log.error("%s failed to start: %s", part.name, err, exc_info=log.isEnabledFor(10))
            with contextlib.suppress(Exception):
                await part.shutdown()
            return False
        self.running[part.name] = True
        log.info("%s started", part.name)
        return True

    async def _keep_running(self, part: Part, failed: bool) -> None:
        delay = self.first_delay
        while not self._stopping:
            if not failed:
                # Shielded: cancelling supervision (at shutdown) must not cancel what the
                # part waits on, e.g. the MQTT link that still has to publish "offline" in
                # the part's own shutdown(). The waiting task is kept until it ends, and
                # shutdown() cancels it once the part is down (a part that cannot die waits
                # forever: left pending, it would be destroyed pending).
                waiting = self._waiting[part.name] = asyncio.create_task(
                    part.wait(), name=f"wait-{part.name}")
                try:
                    await asyncio.shield(waiting)
                    reason = "stopped"
                except asyncio.CancelledError:
                    raise
                except Exception as err:
                    reason = str(err) or type(err).__name__
                self._waiting.pop(part.name, None)
                if self.stopping():
                    return
                self.running[part.name] = False
                log.error("%s died (%s); restarting it in %.1f s, other parts keep running",
                          part.name, reason, delay)
                with contextlib.suppress(Exception):
                    await part.shutdown()
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            if self.stopping():
                return
            self.restarts[part.name] += 1
            failed = not await self._start_once(part)
            delay = min(delay * 2, self.max_delay) if failed else self.first_delay

    def stopping(self) -> bool:
        return self._stopping

    async def shutdown(self) -> None:
        """Stop supervising and shut every part down in reverse order (idempotent)."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for part in reversed(self.parts):
            try:
                await part.shutdown()
            except Exception:
                log.exception("%s did not shut down cleanly", part.name)
            self.running[part.name] = False
        # What still waits for a part to die: every part is down now, so nothing it waits
        # on is needed any more.
        waiting = list(self._waiting.values())
        self._waiting.clear()
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
