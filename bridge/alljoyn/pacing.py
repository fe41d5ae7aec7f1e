"""Outgoing signals with backpressure, so that a burst cannot kill a bus connection.

Layer: ``bridge.alljoyn``. Why this exists: dbus-fast 5.2 writes to its non-blocking socket
straight from ``send()`` whenever its own queue is empty, even while a partly written message is
still pending; when the kernel buffer is full that write fails with EAGAIN, which dbus-fast
treats as fatal and drops the connection (upstream issue still open). A burst of
PropertiesChanged signals fills the buffer quickly.

The pacer queues signals and makes a round trip to dbus-daemon (``Peer.Ping``) after at most
``batch`` signals or about 64 KiB of payload. The daemon reads a connection in order, so when
the Ping answer arrives everything sent before it has left our socket buffer: the buffer never
holds more than one batch. Nothing is coalesced; every signal is delivered in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from dbus_fast import DBusError, Message
from dbus_fast.aio import MessageBus

from bridge.alljoyn.bus import ping_bus
from bridge.core.errors import DeviceTimeout

log = logging.getLogger("ocfaj.alljoyn.pacing")

#: the largest batch the pacer allows whatever the configuration says (issue 4, point 4).
MAX_BATCH = 100
_BYTES_PER_ROUND_TRIP = 64 * 1024


class SignalPacer:
    """Sends the signals of one connection in order, with a round trip every batch."""

    def __init__(self, bus: MessageBus, batch: int = MAX_BATCH, timeout: float = 10.0,
                 label: str = "") -> None:
        self.bus = bus
        self.batch = max(1, min(batch, MAX_BATCH))
        self.timeout = timeout
        self.label = label
        self.sent = 0
        self._queue: deque[Message] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"signals {self.label}")

    def emit(self, msg: Message) -> None:
        """Queue ``msg`` (a signal); it is sent in order soon after."""
        self._queue.append(msg)
        self._idle.clear()
        self._wake.set()

    async def drain(self) -> None:
        """Wait until every queued signal has been handed to the bus."""
        await self._idle.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._queue.clear()
        self._idle.set()

    async def _run(self) -> None:
        since_trip = 0
        pending_bytes = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                if not self.bus.connected:
                    self._queue.clear()
                    break
                msg = self._queue.popleft()
                self.bus.send(msg).add_done_callback(consume_send_failure)
                self.sent += 1
                since_trip += 1
                pending_bytes += 64 + len(str(msg.body))
                if since_trip >= self.batch or pending_bytes >= _BYTES_PER_ROUND_TRIP:
                    since_trip = pending_bytes = 0
                    try:
                        await ping_bus(self.bus, self.timeout)
                    except (DBusError, DeviceTimeout) as err:
                        log.warning("%s: the bus did not answer a pacing round trip (%s)",
                                    self.label, err)
            if not self._queue:
                self._idle.set()


def consume_send_failure(fut: asyncio.Future[None]) -> None:
    """Retrieve a send failure: the connection's own watcher reports the disconnect."""
    if not fut.cancelled():
        fut.exception()
