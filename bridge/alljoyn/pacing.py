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

A signal emitted while nothing is queued and no round trip is due or waited for is handed to
the bus at once, in the caller's turn: the OCF side hands on a stream of notifications one or
a few per event-loop turn, and a task started (and run) for each signal cost more than
sending it (docs/benchmarks.md, "OCF -> D-Bus notification CPU").
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
    """Sends the signals of one connection in order, with a round trip every batch.

    A task runs only while signals are queued: a gateway has one pacer per virtual producer,
    most of them quiet most of the time, and an idle task with its two events was a few KiB
    each (docs/benchmarks.md, "Memory per bridged device, measured by object (issue 18,
    point 4)")."""

    __slots__ = ("_pending_bytes", "_queue", "_since_trip", "_started", "_task", "batch", "bus",
                 "label", "sent", "timeout")

    def __init__(self, bus: MessageBus, batch: int = MAX_BATCH, timeout: float = 10.0,
                 label: str = "") -> None:
        self.bus = bus
        self.batch = max(1, min(batch, MAX_BATCH))
        self.timeout = timeout
        self.label = label
        self.sent = 0
        #: signals not yet handed to the bus with their sizes (None while there are none).
        self._queue: deque[tuple[Message, int]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = False
        # Signals and payload bytes sent since the last round trip (over bursts).
        self._since_trip = 0
        self._pending_bytes = 0

    def start(self) -> None:
        self._started = True
        self._wake()

    def emit(self, msg: Message, size: int = 0) -> None:
        """Send ``msg`` (a signal) now when nothing waits before it, else queue it; either
        way it goes out in order. ``size`` is what the caller knows of its size in bytes
        (0: the pacer estimates it from the body's text, which costs more than the signal's
        other work together for a small one)."""
        if not size:
            size = 64 + len(str(msg.body))
        if self._task is None and not self._queue and self._started and self.bus.connected:
            self._send(msg, size)
            # A round trip is due: signals after this one wait for it in the queue.
            if self._trip_due():
                self._task = asyncio.create_task(self._run(), name=f"signals {self.label}")
            return
        if self._queue is None:
            self._queue = deque()
        self._queue.append((msg, size))
        self._wake()

    def _wake(self) -> None:
        if self._started and self._task is None and self._queue:
            self._task = asyncio.create_task(self._run(), name=f"signals {self.label}")

    async def drain(self) -> None:
        """Wait until every queued signal has been handed to the bus."""
        while self._task is not None:
            await asyncio.wait((self._task,))

    async def stop(self) -> None:
        self._started = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._queue = None

    def _send(self, msg: Message, size: int) -> None:
        self.bus.send(msg).add_done_callback(consume_send_failure)
        self.sent += 1
        self._since_trip += 1
        self._pending_bytes += size

    def _trip_due(self) -> bool:
        return self._since_trip >= self.batch or self._pending_bytes >= _BYTES_PER_ROUND_TRIP

    async def _run(self) -> None:
        try:
            while True:
                if self._trip_due():
                    self._since_trip = self._pending_bytes = 0
                    try:
                        await ping_bus(self.bus, self.timeout)
                    except (DBusError, DeviceTimeout) as err:
                        log.warning("%s: the bus did not answer a pacing round trip (%s)",
                                    self.label, err)
                queue = self._queue
                if not queue:
                    break
                if not self.bus.connected:
                    queue.clear()
                    break
                self._send(*queue.popleft())
        finally:
            if self._task is asyncio.current_task():
                self._task = None
                if not self._queue:
                    self._queue = None


def consume_send_failure(fut: asyncio.Future[None]) -> None:
    """Retrieve a send failure: the connection's own watcher reports the disconnect."""
    if not fut.cancelled():
        fut.exception()
