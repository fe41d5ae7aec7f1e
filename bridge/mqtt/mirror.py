"""The mirror: what the broker should hold for every exposed device, kept up to date.

Layer: ``bridge.mqtt`` (pure apart from the ``emit`` callback, which queues a message in the
outbox). It reacts to registry events and decides which retained documents change: device
state, availability, the light state, Home Assistant discovery, the device list. It never talks
to the broker itself and never blocks.

Which Things: those ``registry.exposable(thing, Side.MQTT)`` accepts, i.e. OCF and AllJoyn
devices the policy lets through; capabilities the policy hides on MQTT are left out everywhere.

Every retained topic of a device it publishes or clears is noted in the record of retained
topics (:mod:`bridge.mqtt.published`), which outlives the process: a device forgotten
(``ThingForgotten``) that this run never published has its topics of an earlier run cleared
from the record, and a device published again has the topics it no longer uses cleared.

The device list (``bridge/devices``) names every exposed device, so building it costs as much
as the devices together: given a ``defer`` callback (the MQTT side passes the event loop's
``call_soon``), a burst of changes (500 devices found at start, a reconnect's snapshot)
publishes it once, built when the deferred call runs, instead of once per device.

A device's state documents (its state and light state topics) after a change of its state are
handed to the outbox as the function that builds them (``emit_later``): during a stream of
notifications only the newest one of each topic is ever built and encoded, when the outbox
writes it, and a superseded state costs no document. ``last_seen`` is checked against the
clock's second before any text is formatted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bridge.core.events import (
    AvailabilityChanged,
    CommandRejected,
    Event,
    SignalEmitted,
    StateChanged,
    ThingAdded,
    ThingForgotten,
    ThingRemoved,
    ThingUpdated,
)
from bridge.core.registry import Registry
from bridge.core.thing import Capability, Side, Thing
from bridge.mqtt import payloads
from bridge.mqtt.hass import HomeAssistant
from bridge.mqtt.light import (
    ColourMode,
    LightParts,
    light_parts,
    light_state,
)
from bridge.mqtt.names import FriendlyNames
from bridge.mqtt.outbox import Message
from bridge.mqtt.published import PublishedTopics
from bridge.mqtt.topics import Topics

log = logging.getLogger("ocfaj.mqtt")

Emit = Callable[[Message], None]
#: Queues the snapshot of a topic as the function that builds it when it is written.
EmitLater = Callable[[str, Callable[[], Message | None]], None]
#: Runs a callable later in the same thread (after the current burst of events).
Defer = Callable[[Callable[[], None]], None]


def retained(topic: str, document: Any, qos: int) -> Message:
    """The retained message of ``document`` on ``topic``, as the outbox coalesces it."""
    return Message(topic, payloads.encode(document), qos, retain=True, coalesce=True)

class _StateStream:
    """What each change of one exposed Thing's state repeats, made at its first change after
    it was exposed (again): its topics, and the builder of its state document that the outbox
    gets (the same object every time, so a change costs no closure). Dropped when the Thing is
    exposed again, renamed or withdrawn, and rebuilt for another Thing object of the same id."""

    __slots__ = ("last_seen", "mirror", "qos", "thing", "topic")

    def __init__(self, mirror: Mirror, thing: Thing, name: str) -> None:
        self.mirror = mirror
        self.thing = thing
        self.topic = mirror.topics.state(name)
        self.last_seen = mirror.topics.last_seen(name)
        self.qos = mirror._qos

    def render(self) -> Message:
        return retained(self.topic, payloads.state(self.thing, self.mirror.visible), self.qos)


class Mirror:
    """Turns registry events into retained documents; see the module docstring."""

    def __init__(self, registry: Registry, topics: Topics, names: FriendlyNames,
                 hass: HomeAssistant | None, emit: Emit, *, qos: int,
                 info: dict[str, Any], published: PublishedTopics,
                 defer: Defer | None = None, emit_later: EmitLater | None = None) -> None:
        self.registry = registry
        self.topics = topics
        self.names = names
        self.hass = hass
        self.info = info
        self._emit = emit
        self._emit_later = emit_later
        self._qos = qos
        #: Thing id -> friendly name, for every exposed Thing.
        self.exposed: dict[str, str] = {}
        self._lights: dict[str, LightParts] = {}
        self._modes: dict[str, ColourMode] = {}
        self._discovery: dict[str, set[str]] = {}
        #: last_seen topic -> the second (Unix time) last published on it: a notification
        #: within the same second would publish the same document again.
        self._last_seen: dict[str, int] = {}
        self.published = published
        self._defer = defer
        self._devices_due = False
        #: Thing id -> its state stream (with ``emit_later`` only), see :class:`_StateStream`.
        self._streams: dict[str, tuple[_StateStream, Callable[[], Message]]] = {}

    # -- helpers -------------------------------------------------------------------------------

    def visible(self, thing: Thing, cap: Capability) -> bool:
        return self.registry.policy.allows_capability(thing, cap, Side.MQTT)

    def _retain(self, topic: str, document: Any, qos: int | None = None,
                thing_id: str = "") -> None:
        """Publish ``document`` retained on ``topic`` (None: clear it), noted in the record
        under ``thing_id`` when it is a device's topic (before the message is queued)."""
        if thing_id:
            if document is None:
                self.published.drop(thing_id, topic)
            else:
                self.published.add(thing_id, topic)
        if document is None:
            self._last_seen.pop(topic, None)
        payload = b"" if document is None else payloads.encode(document)
        self._emit(Message(topic, payload, self._qos if qos is None else qos, retain=True,
                           coalesce=True))

    def _retain_later(self, topic: str, thing_id: str, build: Callable[[], Any]) -> None:
        """Like :meth:`_retain` for a document that ``build`` makes when the outbox writes it
        (without ``emit_later``: at once)."""
        if self._emit_later is None:
            self._retain(topic, build(), thing_id=thing_id)
            return
        self.published.add(thing_id, topic)
        qos = self._qos

        def render() -> Message:
            return retained(topic, build(), qos)

        self._emit_later(topic, render)

    def light_of(self, thing_id: str) -> LightParts | None:
        return self._lights.get(thing_id)

    def thing_named(self, name_or_id: str) -> Thing | None:
        thing_id = self.names.thing_id(name_or_id)
        return self.registry.get(thing_id) if thing_id in self.exposed else None

    # -- events --------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            if event.thing.id in self.exposed:
                self._state_changed(event.thing, event.capability)
        elif isinstance(event, AvailabilityChanged):
            if event.thing.id in self.exposed:
                self.publish_availability(event.thing)
                if event.thing.available:
                    self.publish_last_seen(event.thing)
                self.publish_devices()
            else:
                self.consider(event.thing)
        elif isinstance(event, ThingAdded | ThingUpdated):
            self.consider(event.thing)
        elif isinstance(event, ThingRemoved):
            if event.thing.id in self.exposed:
                self.withdraw(event.thing)
        elif isinstance(event, ThingForgotten):
            self._clear_recorded(event.thing_id)
        elif isinstance(event, SignalEmitted):
            self._signal(event)
        elif isinstance(event, CommandRejected) and event.source != Side.MQTT:
            self._emit(Message(self.topics.bridge_event, payloads.encode({
                "type": "command_rejected",
                "data": {"device": self.exposed.get(event.thing_id, event.thing_id),
                         "capability": event.capability, "source": event.source.value,
                         "reason": event.reason, "message": event.message}}), qos=1))

    def consider(self, thing: Thing) -> None:
        if self.registry.exposable(thing, Side.MQTT):
            self.expose(thing)
        elif thing.id in self.exposed:
            log.info("%s (%s) is no longer exposed on MQTT", thing.info.name, thing.id)
            self.withdraw(thing)

    def _signal(self, event: SignalEmitted) -> None:
        name = self.exposed.get(event.thing.id)
        if name is None:
            return
        # Events are not retained and never coalesced: each one reaches subscribers.
        # event_type is what a Home Assistant event entity reads (bridge.mqtt.hass).
        self._emit(Message(self.topics.event(name), payloads.encode(
            {"capability": event.capability, "signal": event.signal, "args": dict(event.args),
             "event_type": event.signal}), self._qos))

    # -- publishing ----------------------------------------------------------------------------

    def expose(self, thing: Thing) -> None:
        """Publish everything about ``thing`` (new, or its capabilities changed)."""
        self._streams.pop(thing.id, None)
        earlier: frozenset[str] = frozenset()
        if thing.id not in self.exposed:
            self.exposed[thing.id] = self.names.assign(thing)
            log.info("%s (%s) is on MQTT as %s", thing.info.name, thing.id,
                     self.topics.state(self.exposed[thing.id]))
            earlier = self.published.topics(thing.id)
        parts = light_parts(thing, self.visible)
        if parts is None:
            if self._lights.pop(thing.id, None) is not None:
                # No longer a light: its light document must not outlive it on the broker.
                self._retain(self.topics.light_state(self.exposed[thing.id]), None,
                             thing_id=thing.id)
        else:
            self._lights[thing.id] = parts
        self.publish_state(thing)
        self.publish_availability(thing)
        self.publish_discovery(thing)
        self.publish_devices()
        # Published by an earlier run and not now (another name, an entity it lost since).
        for topic in sorted(earlier - self._topics_of(thing.id)):
            if self.published.held_elsewhere(thing.id, topic):
                self.published.drop(thing.id, topic)
            else:
                self._retain(topic, None, qos=1, thing_id=thing.id)

    def _topics_of(self, thing_id: str) -> set[str]:
        """The retained topics this run publishes for an exposed Thing."""
        name = self.exposed[thing_id]
        held = {self.topics.state(name), self.topics.availability(name),
                *self._discovery.get(thing_id, set())}
        if thing_id in self._lights:
            held.add(self.topics.light_state(name))
        return held

    def _clear_recorded(self, thing_id: str) -> None:
        """Clear the recorded topics of a forgotten Thing this run did not publish."""
        if thing_id in self.exposed:
            return
        cleared = sorted(self.published.forget(thing_id))
        for topic in cleared:
            self._retain(topic, None, qos=1)
        if cleared:
            log.info("cleared the %d retained MQTT topics of the forgotten device %s, "
                     "published before the gateway restarted: %s", len(cleared), thing_id,
                     ", ".join(cleared))

    def withdraw(self, thing: Thing) -> None:
        """Remove ``thing``'s retained documents and discovery from the broker."""
        self._streams.pop(thing.id, None)
        name = self.exposed.pop(thing.id)
        for topic in (self.topics.state(name), self.topics.availability(name),
                      self.topics.last_seen(name)):
            self._retain(topic, None, thing_id=thing.id)
        if self._lights.pop(thing.id, None) is not None:
            self._retain(self.topics.light_state(name), None, thing_id=thing.id)
        for topic in sorted(self._discovery.pop(thing.id, set())):
            self._retain(topic, None, qos=1, thing_id=thing.id)
        self._modes.pop(thing.id, None)
        self.names.forget(thing.id)
        self.publish_devices()

    def _state_changed(self, thing: Thing, capability: str) -> None:
        """A change of ``capability``: the state documents, later, and ``last_seen``."""
        if self._emit_later is None:
            self.publish_state(thing, changed=capability)
            self.publish_last_seen(thing)
            return
        known = self._streams.get(thing.id)
        if known is None or known[0].thing is not thing:
            stream = _StateStream(self, thing, self.exposed[thing.id])
            known = self._streams[thing.id] = (stream, stream.render)
        stream, render = known
        self.published.add(thing.id, stream.topic)
        self._emit_later(stream.topic, render)
        if thing.id in self._lights:
            self._light_state(thing, self.exposed[thing.id], capability)
        self._publish_last_seen(stream.last_seen)

    def publish_state(self, thing: Thing, changed: str | None = None) -> None:
        """The state documents of ``thing``; after a change of capability ``changed`` they are
        built when the outbox writes them (the module docstring)."""
        name = self.exposed[thing.id]
        topic = self.topics.state(name)
        if changed is None:
            self._retain(topic, payloads.state(thing, self.visible), thing_id=thing.id)
        else:
            self._retain_later(topic, thing.id, lambda: payloads.state(thing, self.visible))
        self._light_state(thing, name, changed)

    def _light_state(self, thing: Thing, name: str, changed: str | None) -> None:
        parts = self._lights.get(thing.id)
        if parts is None or (changed is not None and changed not in parts.keys):
            return
        if changed == parts.colour and parts.colour is not None:
            self._modes[thing.id] = "hs"
        elif changed == parts.colour_temperature and parts.colour_temperature is not None:
            self._modes[thing.id] = "color_temp"
        mode = self._modes.get(thing.id)
        self._retain_later(self.topics.light_state(name), thing.id,
                           lambda: light_state(thing, parts, mode))

    def publish_last_seen(self, thing: Thing) -> None:
        """When the gateway last heard from ``thing`` (Home Assistant's *Last seen* sensor)."""
        self._publish_last_seen(self.topics.last_seen(self.exposed[thing.id]))

    def _publish_last_seen(self, topic: str) -> None:
        """``last_seen`` on ``topic`` now, once per second at most."""
        second = int(time.time())
        if self._last_seen.get(topic) == second:
            return
        self._last_seen[topic] = second
        now = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
        self._retain(topic, {"last_seen": now})

    def publish_availability(self, thing: Thing) -> None:
        self._retain(self.topics.availability(self.exposed[thing.id]),
                     payloads.availability(thing.available), thing_id=thing.id)

    def devices(self) -> list[dict[str, Any]]:
        found = []
        for thing_id, name in self.exposed.items():
            thing = self.registry.get(thing_id)
            if thing is not None:
                found.append(payloads.device_entry(thing, name, self.visible))
        return found

    def publish_devices(self) -> None:
        """Publish the device list: at once without ``defer``, else once per burst."""
        if self._defer is None:
            self._retain(self.topics.bridge_devices, self.devices(), qos=1)
        elif not self._devices_due:
            self._devices_due = True
            self._defer(self.flush_devices)

    def flush_devices(self) -> None:
        """Publish the device list now if a deferred publication is due."""
        if self._devices_due:
            self._devices_due = False
            self._retain(self.topics.bridge_devices, self.devices(), qos=1)

    def publish_discovery(self, thing: Thing) -> None:
        if self.hass is None:
            return
        caps = [cap for cap in thing.capabilities.values() if self.visible(thing, cap)]
        docs = self.hass.device(thing, self.exposed[thing.id], caps,
                                self._lights.get(thing.id))
        topics = {doc.topic for doc in docs}
        for gone in sorted(self._discovery.get(thing.id, set()) - topics):
            self._retain(gone, None, qos=1, thing_id=thing.id)
        for doc in docs:
            self.published.add(thing.id, doc.topic)
            self._emit(Message(doc.topic, doc.payload, 1, retain=True, coalesce=True))
        self._discovery[thing.id] = topics

    def publish_all_discovery(self) -> None:
        """Every discovery document again (Home Assistant came online, or a reconnect)."""
        if self.hass is None:
            return
        for gateway in self.hass.gateway():
            self._emit(Message(gateway.topic, gateway.payload, 1, retain=True, coalesce=True))
        for thing_id in list(self.exposed):
            thing = self.registry.get(thing_id)
            if thing is not None:
                self.publish_discovery(thing)

    def set_info(self, key: str, value: Any) -> None:
        """Change one field of ``bridge/info`` and publish it."""
        self.info[key] = value
        self._retain(self.topics.bridge_info, self.info, qos=1)

    def snapshot(self) -> None:
        """Re-publish every retained document: after a (re)connect, behind the replay."""
        self._retain(self.topics.bridge_info, self.info, qos=1)
        self.publish_devices()
        for thing_id in list(self.exposed):
            thing = self.registry.get(thing_id)
            if thing is None:
                continue
            self.publish_state(thing)
            self.publish_availability(thing)
        self.publish_all_discovery()

    def rename(self, thing: Thing, new: str) -> str:
        """Move ``thing`` to friendly name ``new``; raises ``RenameRefused``."""
        old = self.names.rename(thing, new)
        if old == new:
            return old
        self._streams.pop(thing.id, None)
        # Home Assistant keeps an entity's id once made: removing the entities first makes it
        # create them again under the new name's entity ids (same unique_id). Not coalesced:
        # the new document must not replace the removal in the outbox. The removal goes
        # before the old topics are cleared, so the old entities are gone by then.
        for topic in sorted(self._discovery.pop(thing.id, set())):
            self._emit(Message(topic, b"", 1, retain=True))
        for topic in (self.topics.state(old), self.topics.availability(old),
                      self.topics.last_seen(old)):
            self._retain(topic, None, thing_id=thing.id)
        if thing.id in self._lights:
            self._retain(self.topics.light_state(old), None, thing_id=thing.id)
        self.exposed[thing.id] = new
        log.info("%s (%s) renamed from %s to %s", thing.info.name, thing.id, old, new)
        self.expose(thing)
        return old
