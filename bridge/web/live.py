"""Live updates for the page: Server-Sent Events of changed devices.

Layer: ``bridge.web``. One :class:`LiveFeed` subscribes to the event bus and marks the Things
that changed; each open ``/api/events`` stream holds the set of ids it still has to send and
sends each device's current row (from the daemon's description) once, however often it changed
meanwhile. A slow browser therefore costs at most one pending id per device, never a growing
queue. Refusals of commands go out as ``rejected`` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from bridge.core.events import (
    AvailabilityChanged,
    CommandRejected,
    Event,
    EventBus,
    StateChanged,
    ThingAdded,
    ThingRemoved,
    ThingUpdated,
)
from bridge.web.facts import GatewayFacts
from bridge.web.http import Request, Response, error_response

log = logging.getLogger("ocfaj.web")

#: Seconds between comment lines that keep idle connections (and proxies) open.
KEEPALIVE = 15.0
#: Open event streams at once; more are refused with 503 (each costs a task and a socket).
MAX_STREAMS = 32


class _Stream:
    def __init__(self) -> None:
        self.dirty: set[str] = set()
        self.removed: set[str] = set()
        self.rejected: list[dict[str, Any]] = []
        self.wake = asyncio.Event()


class LiveFeed:
    """Constructed by the server; :meth:`start` subscribes, :meth:`shutdown` ends streams."""

    def __init__(self, bus: EventBus, facts: GatewayFacts) -> None:
        self.bus = bus
        self.facts = facts
        self._streams: set[_Stream] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._closing = asyncio.Event()

    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.bus.subscribe("web page", self._on_event)

    def shutdown(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._closing.set()
        for stream in self._streams:
            stream.wake.set()

    @property
    def streams(self) -> int:
        return len(self._streams)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, (ThingAdded, ThingUpdated, StateChanged, AvailabilityChanged)):
            for stream in self._streams:
                stream.dirty.add(event.thing.id)
                stream.removed.discard(event.thing.id)
                stream.wake.set()
        elif isinstance(event, ThingRemoved):
            for stream in self._streams:
                stream.dirty.discard(event.thing.id)
                stream.removed.add(event.thing.id)
                stream.wake.set()
        elif isinstance(event, CommandRejected):
            note = {"id": event.thing_id, "capability": event.capability,
                    "source": str(event.source), "error": event.reason,
                    "message": event.message}
            for stream in self._streams:
                if len(stream.rejected) < 20:
                    stream.rejected.append(note)
                stream.wake.set()

    async def handle(self, request: Request) -> Response:
        if len(self._streams) >= MAX_STREAMS:
            return error_response(503, "busy", "too many open pages")
        return Response(headers={"Content-Type": "text/event-stream",
                                 "Cache-Control": "no-store"}, stream=self._events())

    async def _events(self) -> AsyncIterator[bytes]:
        """The stream's chunks; ends at shutdown, or is closed when the page goes away."""
        stream = _Stream()
        self._streams.add(stream)
        try:
            yield b"event: hello\ndata: {}\n\n"
            while not self._closing.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stream.wake.wait(), KEEPALIVE)
                stream.wake.clear()
                yield self._drain(stream) or b": keepalive\n\n"
        finally:
            self._streams.discard(stream)

    def _drain(self, stream: _Stream) -> bytes:
        parts: list[str] = []
        for thing_id in sorted(stream.dirty):
            row = self.facts.describe_device(thing_id)
            if row is not None:
                parts.append(f"event: device\ndata: {json.dumps(row)}\n\n")
        for thing_id in sorted(stream.removed):
            parts.append(f"event: removed\ndata: {json.dumps({'id': thing_id})}\n\n")
        for note in stream.rejected:
            parts.append(f"event: rejected\ndata: {json.dumps(note)}\n\n")
        stream.dirty.clear()
        stream.removed.clear()
        stream.rejected.clear()
        return "".join(parts).encode()
