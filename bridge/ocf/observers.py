"""Observe notifications (RFC 7641) that lose nothing: one bounded queue per observation.

Layer: ``bridge.ocf`` I/O (aiocoap pipes and messages). aiocoap's own ``ServerObservation``
keeps one pending trigger and renders the resource only when its task runs, so a burst of
state changes (one read of many D-Bus signals) collapses into its last state. Here the
representation is rendered when the state changes (:class:`EncodedReply`, a snapshot),
queued per observation, and handed to aiocoap in order.

Flow control: aiocoap sends one CON at a time per client (NSTART = 1) and keeps the rest in
an unbounded per-client backlog. A queue hands aiocoap a new notification only while that
backlog is short (``IN_FLIGHT``), so a client that stops acknowledging holds at most
``IN_FLIGHT`` messages in aiocoap plus ``limit`` snapshots here, until aiocoap gives up on it
(about 93 s of CON retransmissions) and ends the observation. When the queue is full the
oldest snapshot is dropped: the newest state always stays last. Drops are counted and logged.

Abandoned observations: a client that goes away without deregistering is noticed only when a
notification to it fails, and a resource that never changes sends none. The endpoint therefore
queues a confirmable notification of the current state for each observation that has been
quiet for ``observe_check`` seconds (RFC 7641 section 4.5 lets a server check its observers
so); aiocoap ends the observation when it is not acknowledged (or the client's port is closed).

It must not render representations itself nor know devices: snapshots come from the
endpoint (``bridge.ocf.coap_server``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiocoap import CON, Message

from bridge.ocf.coap_messages import EncodedReply, message_of
from bridge.ocf.served import Request

log = logging.getLogger("ocfaj.ocf.observe")

#: Default number of snapshots one observation may queue (about 150 bytes each).
QUEUE_LIMIT = 4096
#: Notifications aiocoap may hold back for one client before a queue waits.
IN_FLIGHT = 16
#: How often a waiting queue looks at aiocoap's backlog again; aiocoap has no event for it,
#: and ``IN_FLIGHT`` acknowledgements take longer than this on any link.
BACKLOG_POLL = 0.002
#: RFC 7641 section 3.4: the Observe option carries a 24-bit sequence number.
_SEQUENCE = 1 << 24

#: Notifications of the client's that aiocoap still holds (not yet on the wire).
Backlog = Callable[[], int]
#: The last look at a notification before it goes out; None drops it (simulated faults).
Deliver = Callable[[Message], Awaitable[Message | None]]


class ObserverQueue:
    """The notifications of one observation not yet handed to aiocoap, oldest first."""

    def __init__(self, request: Request, what: str, *, limit: int = QUEUE_LIMIT) -> None:
        self.request = request
        #: resource and observer, for log lines.
        self.what = what
        self.limit = max(1, limit)
        self.dropped = 0
        #: snapshots, each with whether it goes out confirmable (a liveness check).
        self._pending: deque[tuple[EncodedReply, bool]] = deque()
        self._closed = False
        self._wakeup = asyncio.Event()
        #: when the last notification was handed to aiocoap (or the observation began).
        self.last_sent = time.monotonic()

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, snapshot: EncodedReply, *, confirm: bool = False) -> int:
        """Queue one notification (``confirm``: as a CON, to check that the client is still
        there); returns how many older ones were dropped to make room."""
        if self._closed:
            return 0
        dropped = 0
        while len(self._pending) >= self.limit:
            self._pending.popleft()
            dropped += 1
        if dropped and not self.dropped:
            log.warning("observer %s does not keep up: more than %d notifications queued; "
                        "dropping the oldest, the newest state is always sent",
                        self.what, self.limit)
        self.dropped += dropped
        self._pending.append((snapshot, confirm))
        # An error notification ends the observation (RFC 7641 section 3.2): nothing after it.
        self._closed = not snapshot.success
        self._wakeup.set()
        return dropped

    def clear(self) -> None:
        """Forget queued snapshots (older than the first response, which is sent instead)."""
        self._pending.clear()
        self._closed = False

    async def run(self, pipe: Any, backlog: Backlog, deliver: Deliver) -> None:
        """Send queued notifications into aiocoap's ``pipe`` until an error one ends it."""
        number = 0
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            while backlog() >= IN_FLIGHT:  # noqa: ASYNC110 (aiocoap offers no event for it)
                await asyncio.sleep(BACKLOG_POLL)
            snapshot, confirm = self._pending.popleft()
            message = await deliver(message_of(snapshot))
            if message is None:
                continue
            self.last_sent = time.monotonic()
            if confirm:
                message.mtype = CON
            last = not message.code.is_successful()
            if not last:
                number = (number + 1) % _SEQUENCE
                message.opt.observe = number
            pipe.add_response(message, is_last=last)
            if last:
                return
