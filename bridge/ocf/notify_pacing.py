"""The type of each notification to one observer, and when the next one must wait.

Layer: ``bridge.ocf``, pure: no socket, no aiocoap, no clock of its own (the caller passes
the time). The observer queue (``bridge.ocf.observers``) asks :meth:`NotificationPacing.choose`
before each notification and reports what it sent; the client's answers to confirmable
notifications come back through :meth:`NotificationPacing.answered`.

RFC 7641 section 4.5 lets the server choose each notification's type whatever the type of
the registration, asks for a confirmable one at least every 24 hours, and section 4.5.1
allows at most one confirmable notification in flight per client. A confirmable one is also
the only way the server learns that a client is gone: an RST or a confirmable notification
whose retransmissions run out ends the observation. So most notifications go
non-confirmable, one datagram each with nothing coming back, and:

- every ``every``-th notification goes confirmable, and so does the next one after
  ``refresh`` seconds without a confirmable one (and every liveness check);
- at most ``in_flight`` confirmable notifications wait for their answer: a confirmable one
  that is due while that many wait holds back the queue (it keeps every state, dropping the
  oldest only when full, ``bridge.ocf.observers``), so a client that stops answering gets
  at most ``every - 1`` non-confirmable notifications past the unanswered one.

``every`` None sends non-confirmable notifications but for the ``refresh`` and liveness
ones; ``every`` 1 sends them all confirmable, one client round trip each.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Default of ``ocf.notify_confirmable_every``: one confirmable notification in 16.
CONFIRMABLE_EVERY = 16


@dataclass
class NotificationPacing:
    """What one observation may send next; see the module docstring for the rules."""

    every: int | None
    in_flight: int
    #: seconds after the last confirmable notification when the next one goes confirmable.
    refresh: float | None
    #: when the last confirmable notification went out (or the observation began).
    last_confirmable: float
    #: confirmable notifications sent and not answered yet.
    unanswered: int = 0
    #: notifications sent since the last confirmable one.
    since_confirmable: int = 0

    def choose(self, now: float, *, check: bool = False) -> bool | None:
        """Whether the next notification goes confirmable (``check``: it is a liveness
        check, which always is); None: it must wait for an answer to one sent before."""
        due = (check or (self.every is not None and self.since_confirmable + 1 >= self.every)
               or (self.refresh is not None and now - self.last_confirmable >= self.refresh))
        if not due:
            return False
        return True if self.unanswered < self.in_flight else None

    @property
    def confirms_tail(self) -> bool:
        """Whether a burst that ended on a non-confirmable notification is followed by its
        last state again, confirmable (``bridge.ocf.observers.TAIL_CONFIRM``): true when
        non-confirmable ones are the server's choice (``every`` above 1), not the client's
        (a non-confirmable registration under ``every`` 0 keeps aiocoap's behaviour)."""
        return self.every is not None and self.every > 1

    def sent(self, confirmable: bool, now: float) -> None:
        """A notification of the type :meth:`choose` gave went out."""
        if confirmable:
            self.unanswered += 1
            self.since_confirmable = 0
            self.last_confirmable = now
        else:
            self.since_confirmable += 1

    def answered(self) -> None:
        """The client acknowledged one of the confirmable notifications."""
        self.unanswered = max(0, self.unanswered - 1)


def pacing_for(registered_confirmable: bool, every: int, refresh: float | None,
               now: float, *, backlog: int) -> NotificationPacing:
    """The pacing of a new observation under ``ocf.notify_confirmable_every`` = ``every``.

    ``every`` 0 keeps the type of the registration (aiocoap's own choice): a confirmable
    registration gets every notification confirmable, up to ``backlog`` of them handed to
    aiocoap unanswered (it sends one at a time per client, NSTART = 1); a non-confirmable one
    gets them non-confirmable."""
    if every >= 1:
        return NotificationPacing(every, 1, refresh, now)
    if registered_confirmable:
        return NotificationPacing(1, backlog, refresh, now)
    return NotificationPacing(None, 1, refresh, now)
