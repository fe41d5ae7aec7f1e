"""Events between the registry and the protocol sides, and the bus that carries them.

Layer: ``bridge.core`` (pure). Adapters never call each other: they publish to and subscribe on
this bus. Dispatch is synchronous and in subscription order; a handler that needs I/O schedules
its own task. A failing handler is logged with its name and cannot stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bridge.core.thing import Side, Thing
from bridge.model.types import Value

log = logging.getLogger("ocfaj.events")


@dataclass(frozen=True)
class ThingAdded:
    thing: Thing


@dataclass(frozen=True)
class ThingUpdated:
    """The capabilities or descriptive facts of a Thing changed (not just its state)."""

    thing: Thing


@dataclass(frozen=True)
class ThingRemoved:
    thing: Thing


@dataclass(frozen=True)
class ThingForgotten:
    """The gateway forgot a device gone longer than ``bridge.forget_after``: after the
    Thing's ``ThingRemoved``, or alone for a device known only from the identity book of an
    earlier run (a side clears what it still holds of it from that run, e.g. MQTT topics)."""

    thing_id: str


@dataclass(frozen=True)
class AvailabilityChanged:
    thing: Thing
    available: bool


@dataclass(frozen=True, slots=True)
class StateChanged:
    """Some values of one capability changed; ``values`` holds only the changed ones.

    One per notification or signal of a device: slotted, a frozen event is made in half the
    time (0.4 instead of 0.8 µs; docs/benchmarks.md, "OCF -> D-Bus notification CPU: what
    each value repeats")."""

    thing: Thing
    capability: str
    values: Mapping[str, Value]


@dataclass(frozen=True, slots=True)
class SignalEmitted:
    """A generic AllJoyn signal (or its OCF counterpart) fired on the origin device."""

    thing: Thing
    capability: str
    signal: str
    args: Mapping[str, Value]


@dataclass(frozen=True)
class CommandRejected:
    """A command was refused before reaching a device (for logs and MQTT responses)."""

    thing_id: str
    capability: str
    source: Side
    reason: str
    message: str


Event = (ThingAdded | ThingUpdated | ThingRemoved | ThingForgotten | AvailabilityChanged
         | StateChanged | SignalEmitted | CommandRejected)
Handler = Callable[[Event], None]


class EventBus:
    """Synchronous publish/subscribe with isolated subscribers."""

    def __init__(self) -> None:
        #: the subscribers, replaced (never changed in place) by (un)subscribing: an event
        #: goes to those subscribed when it was published, without a copy per event.
        self._handlers: tuple[tuple[str, Handler], ...] = ()

    def subscribe(self, name: str, handler: Handler) -> Callable[[], None]:
        """Add ``handler``; returns a function that removes it again."""
        entry = (name, handler)
        self._handlers = (*self._handlers, entry)

        def unsubscribe() -> None:
            if entry in self._handlers:
                handlers = list(self._handlers)
                handlers.remove(entry)
                self._handlers = tuple(handlers)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for name, handler in self._handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler %s failed on %s; other handlers carry on",
                              name, type(event).__name__)
