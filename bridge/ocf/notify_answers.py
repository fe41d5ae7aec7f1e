"""What clients answer to the notifications of one endpoint: empty ACKs and RSTs.

Layer: ``bridge.ocf`` I/O (aiocoap 0.4 internals; docs/design.md, "Where the OCF side relies
on aiocoap's behaviour (checked with aiocoap 0.4.8 and 0.4.17)"). aiocoap retransmits a
confirmable notification until its ACK and ends the observation on an RST or when the
retransmissions run out, but tells the resource neither that an ACK came nor about an RST to
a non-confirmable notification (it ignores those). :class:`NotificationAnswers` sits in
front of each ``MessageManager.dispatch_message`` of a context (the plain UDP one and, on a
secured device, the coaps one), lets aiocoap handle every message first, and then routes an
empty ACK or RST by its message id to the observation whose notification it answers:

- an ACK (or RST) to a confirmable notification frees that observation's place for the next
  confirmable one (``bridge.ocf.notify_pacing``);
- an RST to one of an observation's recent non-confirmable notifications ends the
  observation as aiocoap ends one on an RST to a confirmable notification: through the stop
  handle its token manager keeps for the request (``TokenManager.incoming_requests``).

Answers are matched on message id *and* the client's address, so no other client can end an
observation. It must not decide types nor send anything: ``bridge.ocf.observers`` does.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from aiocoap import ACK, EMPTY, RST

log = logging.getLogger("ocfaj.ocf.observe")

#: Non-confirmable notifications per observation whose RST is still recognised.
RECENT = 32


class Answered(Protocol):
    """An observation as :class:`NotificationAnswers` sees it."""

    #: the client's address (an aiocoap remote) and the registration's token.
    remote: Any
    token: bytes
    #: ids of its latest non-confirmable notifications, newest last.
    recent: deque[int]
    what: str

    def answered(self) -> None:
        """A confirmable notification of this observation was acknowledged (or reset)."""


class NotificationAnswers:
    """The ACKs and RSTs of one aiocoap context's clients, routed to their observations."""

    def __init__(self) -> None:
        self._context: Any = None
        self._installed: list[Any] = []
        #: message id of a confirmable notification -> its observation.
        self._confirmable: dict[int, Answered] = {}
        self._watched: set[Answered] = set()
        #: RSTs that ended an observation (for operators and tests).
        self.resets = 0

    @property
    def waiting(self) -> int:
        """Confirmable notifications whose answer is awaited, over all observations."""
        return len(self._confirmable)

    @property
    def watched(self) -> int:
        return len(self._watched)

    def cover(self, context: Any) -> None:
        """Watch every message layer ``context`` has now (a coaps one may come after the
        start); installing twice in front of one is a no-op."""
        if context is None:
            return  # the endpoint is shutting down
        self._context = context
        for interface in context.request_interfaces:
            manager: Any = getattr(interface, "token_interface", None)
            if manager is None or getattr(manager, "dispatch_message", None) is None \
                    or any(manager is done for done in self._installed):
                continue
            self._installed.append(manager)
            manager.dispatch_message = self._dispatcher(manager.dispatch_message)

    def _dispatcher(self, passed: Callable[[Any], None]) -> Callable[[Any], None]:
        def dispatch(message: Any) -> None:
            passed(message)
            if message.code is EMPTY and (message.mtype is ACK or message.mtype is RST):
                self._answer(message)
        return dispatch

    def watch(self, observation: Answered) -> None:
        self._watched.add(observation)

    def forget(self, observation: Answered) -> None:
        """The observation ended: answers to it are no longer awaited."""
        self._watched.discard(observation)
        for mid in [m for m, o in self._confirmable.items() if o is observation]:
            del self._confirmable[mid]

    def expect(self, mid: int, observation: Answered) -> None:
        """``observation`` sent a confirmable notification with message id ``mid``."""
        self._confirmable[mid] = observation

    def _answer(self, message: Any) -> None:
        observation = self._confirmable.get(message.mid)
        if observation is not None and observation.remote == message.remote:
            # aiocoap has already stopped the observation if this is an RST.
            del self._confirmable[message.mid]
            observation.answered()
            return
        if message.mtype is not RST:
            return
        for watched in list(self._watched):
            if message.mid in watched.recent and watched.remote == message.remote:
                self.resets += 1
                log.info("observer %s answered a notification with RST: observation ended",
                         watched.what)
                self.forget(watched)
                self._stop(watched)
                return

    def _stop(self, observation: Answered) -> None:
        """End ``observation`` in aiocoap, as its token manager does on an RST to a CON."""
        key = (observation.token, observation.remote)
        for interface in getattr(self._context, "request_interfaces", ()):
            entry = getattr(interface, "incoming_requests", {}).get(key)
            if entry is not None:
                _pipe, stop = entry
                stop()
                return
        log.warning("observer %s: aiocoap no longer knows the observation its RST ended",
                    observation.what)
