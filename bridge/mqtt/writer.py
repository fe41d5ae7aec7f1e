"""The outbox writer: when accepted messages are written to the outbox and committed.

Layer: ``bridge.mqtt`` (asyncio timers and the outbox; no MQTT client, no payloads). It never
blocks and never talks to the broker; before each commit it calls ``before_commit`` (the side
saves the record of retained topics with it, so the record never lags behind the outbox) and
after each commit ``on_commit`` (the side wakes the broker link with it).

A message that is not ``coalesce`` (an event, a command response) is appended at once and
committed at the end of the event-loop turn that accepted it, as before: accepted means durable
from then on (``tests/mqtt/test_kill9.py``).

Retained state snapshots (``coalesce``) are idempotent and re-published from the registry after
every (re)connect, so they need not cost a transaction each. During a stream of notifications
(one per loop turn) they wait in memory, newest per topic only, and are written and committed
together at most every ``interval`` seconds; an isolated snapshot is still committed at the end
of its turn. A snapshot may also be accepted as the function that builds it
(:meth:`OutboxWriter.accept_later`): it is built when it is written, so a snapshot that a newer
one of its topic replaces before then costs no document and no JSON at all. A later
non-coalesce message first writes the waiting snapshots, so the outbox keeps the order in which
messages were accepted. The cost of a ``kill -9`` in that window is
the newest snapshot of a state that the restarted gateway publishes again anyway.

The broker link's acknowledgements (:meth:`OutboxWriter.acknowledged`) ride on the same
commits: the outbox deletes acknowledged messages in its open transaction, and the writer
commits it with the next cycle's appends, or on its own at most ``interval`` later when nothing
else comes (a delete lost to a crash only sends those messages again: at-least-once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bridge.mqtt.outbox import Message, Outbox

#: Builds a snapshot when it is written (None: there is nothing to publish any more).
Render = Callable[[], Message | None]

#: at most this many commits per second of snapshots alone during a stream.
DEFAULT_INTERVAL = 0.01


class OutboxWriter:
    """Appends accepted messages to ``outbox`` and commits them; see the module docstring."""

    def __init__(self, outbox: Outbox, on_commit: Callable[[], None],
                 interval: float = DEFAULT_INTERVAL,
                 before_commit: Callable[[], None] | None = None) -> None:
        self.outbox = outbox
        self.interval = interval
        self._on_commit = on_commit
        self._before_commit = before_commit
        #: coalescable snapshots not yet in the outbox, by topic, oldest acceptance first.
        self._waiting: dict[str, Message | Render] = {}
        self._dirty = False
        self._handle: asyncio.Handle | None = None
        self._due = 0.0
        self._last_commit = float("-inf")

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def accept(self, message: Message) -> None:
        """Take ``message``: in the outbox (or, for a snapshot, in memory) from now on."""
        if message.coalesce:
            # A replaced snapshot moves to the end, as in the outbox itself.
            self._waiting.pop(message.topic, None)
            self._waiting[message.topic] = message
        else:
            self._write_waiting()
            self.outbox.append(message)
            self._dirty = True
        self._schedule(urgent=not message.coalesce)

    def acknowledged(self) -> None:
        """The outbox holds a delete of acknowledged messages to commit: with the next
        cycle's appends, or alone within ``interval``."""
        self._dirty = True
        self._schedule(urgent=False)

    def accept_later(self, topic: str, render: Render) -> None:
        """Take the newest snapshot of ``topic`` as ``render``, which builds it when it is
        written (at the next commit, or before a later non-coalesce message): the state it
        reads then is at least as new as now, and a snapshot replaced before that is never
        built."""
        self._waiting.pop(topic, None)
        self._waiting[topic] = render
        self._schedule(urgent=False)

    def flush(self) -> None:
        """Write and commit everything accepted so far (timers, shutdown)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self.outbox.is_open:
            self._waiting.clear()
            self._dirty = False
            return
        self._write_waiting()
        if self._dirty:
            self._dirty = False
            if self._before_commit is not None:
                self._before_commit()
            self.outbox.commit()
            self._last_commit = asyncio.get_running_loop().time()
            self._on_commit()

    def _write_waiting(self) -> None:
        if self._waiting:
            waiting, self._waiting = self._waiting, {}
            for waited in waiting.values():
                message = waited if isinstance(waited, Message) else waited()
                if message is not None:
                    self.outbox.append(message)
            self._dirty = True

    def _schedule(self, *, urgent: bool) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = now if urgent else max(now, self._last_commit + self.interval)
        if self._handle is not None:
            if self._due <= due:
                return  # already due at least as soon as needed
            self._handle.cancel()
        self._due = due
        if due > now:
            self._handle = loop.call_at(due, self.flush)
        else:
            self._handle = loop.call_soon(self.flush)
