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

Sent in the call that changed the state: a non-confirmable notification that finds the queue
empty and its observation's task waiting (nothing held, nothing queued before it) is framed
and sent by :meth:`ObserverQueue.put` itself, on the plain UDP socket, instead of waking the
task for it (an event, a future and a task step per notification). Everything else (a
confirmable one that is due, one behind a held or queued notification, an error, a coaps or
fault-injecting observer) is queued for the task as before, so the order stays that of the
changes and the pacing rules are the same whichever sends.

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
        #: the plain UDP socket :meth:`put` sends on while :meth:`run` waits with nothing
        #: queued (None: every notification goes through the task).
        self._direct: NotificationSocket | None = None
        #: the last Observe number sent.
        self._number = 0
        #: the last state sent non-confirmable, to be confirmed once the burst is over, and
        #: when it went out.
        self._tail: EncodedReply | None = None
        self._tail_at = 0.0
        #: a send by :meth:`put` found the client unreachable (aiocoap ended the observation).
        self._gone = False
        self._task: asyncio.Task[Any] | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, snapshot: EncodedReply, *, confirm: bool = False) -> int:
        """Queue one notification (``confirm``: as a CON, to check that the client is still
        there); returns how many older ones were dropped to make room."""
        if self._closed:
            return 0
        if self._direct is not None and not confirm and not self._pending \
                and self._send_now(snapshot, self._direct):
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

    def _send_now(self, snapshot: EncodedReply, lean: NotificationSocket) -> bool:
        """Send ``snapshot`` non-confirmable at once, if that is what the task would do with
        it next (True); False: the task must take it (confirmable, held, not plain)."""
        pacing = self.pacing
        if pacing is None or not snapshot.success or not snapshot.representation:
            return False
        task = self._task
        if task is None or task.cancelling():
            return False  # aiocoap ended the observation: the task's cancellation is on its way
        now = time.monotonic()
        if pacing.choose(now) is not False:
            return False
        had_tail = self._tail is not None
        self._send_non(snapshot, lean, pacing, now)
        if self._gone:
            self._direct = None
            self._closed = True
            self._wakeup.set()  # the task returns: the observation has ended
        elif self._tail is not None and not had_tail:
            self._wakeup.set()  # the task starts the tail's confirmation timer
        return True

    def _send_non(self, snapshot: EncodedReply, lean: NotificationSocket,
                  pacing: NotificationPacing, now: float) -> None:
        """One non-confirmable notification on ``lean`` (sets ``_gone`` when the client
        cannot be reached)."""
        self.last_sent = now
        self._number = (self._number + 1) % _SEQUENCE
        mid = lean.send(self.remote, self.token, self._number, snapshot.payload)
        if mid is None:
            self._gone = True
            return
        self.recent.append(mid)
        pacing.sent(False, now)
        if pacing.confirms_tail:
            self._tail, self._tail_at = snapshot, now
        else:
            self._tail = None

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

    async def _confirm_later(self) -> None:
        """Queue the tail (the last state, sent non-confirmable) again as a confirmable
        notification once ``TAIL_CONFIRM`` seconds pass after it with nothing new to send;
        return at once when something new is queued (it supersedes the tail). A newer tail
        that :meth:`put` sent meanwhile moves the deadline on, without waking this."""
        loop = asyncio.get_running_loop()
        while not self._pending and not self._gone and self._tail is not None:
            remaining = self._tail_at + TAIL_CONFIRM - time.monotonic()
            if remaining <= 0:
                self._pending.append((self._tail, True))
                self._tail = None
                return
            self._wakeup.clear()
            try:
                async with asyncio.timeout_at(loop.time() + remaining):
                    await self._wakeup.wait()  # an ACK wakes it too: then wait on
            except TimeoutError:
                pass

    async def run(self, pipe: Any, pacing: NotificationPacing, answers: NotificationAnswers,
                  deliver: Deliver | None, lean: NotificationSocket | None) -> None:
        """Send queued notifications until an error one ends the observation: into aiocoap's
        ``pipe``, or the non-confirmable ones with a representation through ``lean`` (the
        plain UDP socket of the client, None: another transport). ``deliver`` None: each
        goes out as rendered. While it waits with nothing queued, :meth:`put` sends the
        non-confirmable ones itself."""
        self.pacing = pacing
        self.remote, self.token = pipe.request.remote.as_response_address(), pipe.request.token
        if deliver is not None:
            lean = None  # a simulator's faults may change any notification
        self._task = asyncio.current_task()
        try:
            await self._run(pipe, pacing, answers, deliver, lean)
        finally:
            self._direct = None
            self._task = None

    async def _run(self, pipe: Any, pacing: NotificationPacing, answers: NotificationAnswers,
                   deliver: Deliver | None, lean: NotificationSocket | None) -> None:
        pending = self._pending
        while True:
            if self._gone:
                return  # the client is unreachable: aiocoap has ended the observation
            if not pending:
                self._direct = lean
                try:
                    if self._tail is not None:
                        await self._confirm_later()
                        continue
                    self._wakeup.clear()
                    await self._wakeup.wait()
                finally:
                    self._direct = None
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
            if lean is not None and not confirmable and snapshot.representation:
                self._send_non(snapshot, lean, pacing, now)
                continue
            self.last_sent = now
            message = message_of(snapshot)
            if deliver is not None:
                delivered = await deliver(message)
                if delivered is None:
                    continue
                message = delivered
            last = not message.code.is_successful()
            if not last:
                self._number = (self._number + 1) % _SEQUENCE
                message.opt.observe = self._number
                # RFC 7641 section 4.5: the server picks each notification's type (an error
                # one, which ends the observation, keeps aiocoap's: the registration's).
                message.mtype = CON if confirmable else NON
                if confirmable:
                    message.transport_tuning = CONFIRMABLE_TUNING
            pipe.add_response(message, is_last=last)
            if last:
                return
            pacing.sent(confirmable, now)
            self._tail = snapshot if not confirmable and pacing.confirms_tail else None
            self._tail_at = now
            # aiocoap gave the message its id while sending it (synchronously).
            if message.mid is not None:
                if confirmable:
                    answers.expect(message.mid, self)
                else:
                    self.recent.append(message.mid)
