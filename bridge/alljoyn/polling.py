"""Polling the properties of AllJoyn devices that do not signal their changes.

Layer: ``bridge.alljoyn``. A property annotated ``EmitsChangedSignal="false"`` never arrives
in ``PropertiesChanged`` (D-Bus specification, "org.freedesktop.DBus.Properties"), so the
consumer would know only its first value. :class:`UnsignalledPoller` runs one task per device
that has such properties and calls the ``read`` coroutine it was given every ``interval``
seconds; the consumer decides what is read (the interfaces holding those properties) and
updates the registry, which passes on only what changed. It does no D-Bus I/O itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dbus_fast import DBusError

from bridge.core.errors import CommandError, DeviceError

log = logging.getLogger("ocfaj.alljoyn.polling")

Read = Callable[[str], Awaitable[None]]


class UnsignalledPoller:
    """One polling task per followed Thing id; ``stop()`` ends them all (idempotent)."""

    def __init__(self, interval: float, read: Read) -> None:
        self.interval = interval
        self.read = read
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def follow(self, thing_id: str, label: str) -> None:
        """Poll ``thing_id`` from now on (a second call keeps the running task)."""
        if not self.enabled or thing_id in self._tasks:
            return
        self._tasks[thing_id] = asyncio.create_task(self._run(thing_id, label),
                                                    name=f"poll {label}")
        log.info("AllJoyn: %s has properties that do not signal changes; reading them every "
                 "%g s", label, self.interval)

    def forget(self, thing_id: str) -> None:
        task = self._tasks.pop(thing_id, None)
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, {}
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)

    async def _run(self, thing_id: str, label: str) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.read(thing_id)
            except (DBusError, DeviceError, CommandError) as err:
                if not failing:
                    log.warning("AllJoyn: polling %s failed: %s (said once until it works "
                                "again)", label, err)
                failing = True
                continue
            if failing:
                log.info("AllJoyn: polling %s works again", label)
            failing = False
