"""Observe notifications (RFC 7641) that lose nothing: one bounded queue per observation.

Layer: ``bridge.ocf`` I/O (aiocoap pipes and messages). aiocoap's own ``ServerObservation``
keeps one pending trigger and renders the resource only when its task runs, so a burst of
state changes (one read of many D-Bus signals) collapses into its last state. Here the
representation is rendered when the state changes (:class:`EncodedReply`, a snapshot),
queued per observation, and handed to aiocoap in order.

Types and flow control (``bridge.ocf.notify_pacing``): most notifications go
non-confirmable whatever the registration's type; one in ``ocf.notify_confirmable_every``
goes confirmable, and at most one of those waits for its ACK at a time. While it waits the
queue keeps sending up to the next confirmable one, then holds: a client that stops
acknowledging holds at most ``limit`` snapshots here, until aiocoap gives up on the
unanswered one (about 93 s of retransmissions) and ends the observation. An RST to any
notification ends it too (``bridge.ocf.notify_answers``). When the queue is full the oldest
snapshot is dropped: the newest state always stays last. Drops are counted and logged.

Abandoned observations: a client that goes away without deregistering is noticed only when a
confirmable notification to it fails, and a resource that never changes sends none. The
endpoint therefore queues a confirmable notification of the current state for each
observation that has been quiet for ``observe_check`` seconds (RFC 7641 section 4.5 lets a
server check its observers so), and a busy one gets its next notification confirmable once
``observe_check`` seconds passed without one.

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

from aiocoap import CON, NON, Message, TransportTuning

from bridge.ocf.coap_messages import EncodedReply, message_of
from bridge.ocf.notify_answers import RECENT, NotificationAnswers
from bridge.ocf.notify_pacing import NotificationPacing
from bridge.ocf.notify_sender import NotificationSocket
from bridge.ocf.served import Request

log = logging.getLogger("ocfaj.ocf.observe")

#: Default number of snapshots one observation may queue (about 150 bytes each).
QUEUE_LIMIT = 4096
#: Confirmable notifications a queue may hand aiocoap unanswered when every notification is
#: confirmable (``ocf.notify_confirmable_every = 0`` and a CON registration).
IN_FLIGHT = 16
#: Retransmission of confirmable notifications: RFC 7252 section 4.8's defaults (aiocoap's),
#: about 93 s before an unanswered one ends the observation.
CONFIRMABLE_TUNING = TransportTuning()
#: Seconds without a new notification after a non-confirmable one, before that last state
#: goes out again, confirmable: a lost datagram cannot leave the client on an old state.
TAIL_CONFIRM = 1.0
#: RFC 7641 section 3.4: the Observe option carries a 24-bit sequence number.
_SEQUENCE = 1 << 24

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
        #: the client's address and token (aiocoap's), set by :meth:`run`.
        self.remote: Any = None
        self.token = b""
        #: message ids of the latest non-confirmable notifications (an RST may answer one).
        self.recent: deque[int] = deque(maxlen=RECENT)
        self.pacing: NotificationPacing | None = None

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

    def answered(self) -> None:
        """The client acknowledged a confirmable notification: the next may be due."""
        if self.pacing is not None:
            self.pacing.answered()
        self._wakeup.set()

    async def _hold(self) -> None:
        """Wait for an answer to the unanswered confirmable notification. aiocoap ends the
        observation when its retransmissions run out (``MAX_TRANSMIT_WAIT`` at most); should
        its answer have passed unseen (a transport whose ACKs ``bridge.ocf.notify_answers``
        does not see), the queue goes on after twice that rather than hold for ever."""
        patience = 2 * CONFIRMABLE_TUNING.MAX_TRANSMIT_WAIT
        try:
            async with asyncio.timeout(patience):
                await self._wakeup.wait()
        except TimeoutError:
            log.warning("observer %s: no answer seen to a confirmable notification within "
                        "%.0f s, yet the observation lives on; sending the next ones",
                        self.what, patience)
            self.answered()

    async def _confirm_later(self, tail: EncodedReply) -> None:
        """Queue ``tail`` (the last state, sent non-confirmable) again as a confirmable
        notification once ``TAIL_CONFIRM`` seconds pass with nothing new to send; return at
        once when something new is queued (it supersedes ``tail``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TAIL_CONFIRM
        while not self._pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._pending.append((tail, True))
                return
            self._wakeup.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()  # an ACK wakes it too: then wait on
            except TimeoutError:
                pass

    async def run(self, pipe: Any, pacing: NotificationPacing, answers: NotificationAnswers,
                  deliver: Deliver | None, lean: NotificationSocket | None) -> None:
        """Send queued notifications until an error one ends the observation: into aiocoap's
        ``pipe``, or the non-confirmable ones with a representation through ``lean`` (the
        plain UDP socket of the client, None: another transport). ``deliver`` None: each
        goes out as rendered."""
        self.pacing = pacing
        self.remote, self.token = pipe.request.remote.as_response_address(), pipe.request.token
        if deliver is not None:
            lean = None  # a simulator's faults may change any notification
        number = 0
        pending = self._pending
        #: the last state sent non-confirmable, to be confirmed once the burst is over.
        tail: EncodedReply | None = None
        while True:
            if not pending:
                if tail is not None:
                    await self._confirm_later(tail)
                    tail = None
                    continue
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            snapshot, check = pending[0]
            now = time.monotonic()
            confirmable = pacing.choose(now, check=check) if snapshot.success else False
            if confirmable is None:
                # A confirmable one is due and the last is unanswered: hold the queue.
                self._wakeup.clear()
                await self._hold()
                continue
            pending.popleft()
            self.last_sent = now
            if lean is not None and not confirmable and snapshot.representation:
                number = (number + 1) % _SEQUENCE
                mid = lean.send(self.remote, self.token, number, snapshot.payload)
                if mid is None:
                    return  # the client is unreachable: aiocoap has ended the observation
                self.recent.append(mid)
                pacing.sent(False, now)
                tail = snapshot if pacing.confirms_tail else None
                continue
            message = message_of(snapshot)
            if deliver is not None:
                delivered = await deliver(message)
                if delivered is None:
                    continue
                message = delivered
            last = not message.code.is_successful()
            if not last:
                number = (number + 1) % _SEQUENCE
                message.opt.observe = number
                # RFC 7641 section 4.5: the server picks each notification's type (an error
                # one, which ends the observation, keeps aiocoap's: the registration's).
                message.mtype = CON if confirmable else NON
                if confirmable:
                    message.transport_tuning = CONFIRMABLE_TUNING
            pipe.add_response(message, is_last=last)
            if last:
                return
            pacing.sent(confirmable, now)
            tail = snapshot if not confirmable and pacing.confirms_tail else None
            # aiocoap gave the message its id while sending it (synchronously).
            if message.mid is not None:
                if confirmable:
                    answers.expect(message.mid, self)
                else:
                    self.recent.append(message.mid)
