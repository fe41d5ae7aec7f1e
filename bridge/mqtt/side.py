"""The MQTT side facade: the one object the daemon constructs for the broker uplink.

Layer: ``bridge.mqtt``. It wires the parts together and owns their lifecycle: the outbox
(SQLite file in the state directory), the record of retained topics per device (JSON file
beside it, written before each outbox commit that follows a change of it), the broker link
(the only user of the MQTT client), the mirror (registry events -> retained documents) and the
incoming-message handler. It subscribes to the event bus; it never calls another side.

Every message goes through the outbox, connected or not (when it is written and committed is
:mod:`bridge.mqtt.writer`'s); the link drains it in order. After
each (re)connect the link first replays what queued up, then the retained snapshot (device
list, states, availability, discovery) the mirror appends at that moment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge.core.events import Event
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.mqtt import payloads
from bridge.mqtt.config import MqttConfig
from bridge.mqtt.connection import BrokerFinder, BrokerLink, LinkSettings
from bridge.mqtt.hass import HomeAssistant
from bridge.mqtt.incoming import Incoming
from bridge.mqtt.limits import MessageLimits
from bridge.mqtt.log_level import log_level
from bridge.mqtt.mirror import Mirror
from bridge.mqtt.names import FriendlyNames, RenameRefused
from bridge.mqtt.outbox import FILE_NAME, Message, Outbox
from bridge.mqtt.published import FILE_NAME as PUBLISHED_FILE_NAME
from bridge.mqtt.published import PublishedTopics
from bridge.mqtt.tls import tls_context
from bridge.mqtt.topics import Topics
from bridge.mqtt.writer import OutboxWriter, Render

log = logging.getLogger("ocfaj.mqtt")

#: Longest wait of each step of the MQTT side's stop (the offline state, its tasks ending).
SHUTDOWN_STEP = 5.0


class MqttSide:
    """Mirrors every exposable Thing to an MQTT broker; see the module docstring.

    ``state_dir`` holds the outbox; ``broker_finder`` resolves ``host = "auto"`` (the daemon
    passes :func:`bridge.discovery.broker.find_mqtt_broker`); ``health_interval`` overrides the
    seconds between health probes of the connection (default: half the keep-alive, at most 30).
    ``configuration_url`` gives, when the side starts, the web page's address for Home
    Assistant's device pages ("" for none; the daemon knows it once the page is served).
    """

    def __init__(self, config: MqttConfig, registry: Registry, catalogue: Catalogue,
                 book: IdentityBook, gateway_name: str, *, state_dir: Path,
                 broker_finder: BrokerFinder | None = None,
                 health_interval: float | None = None,
                 configuration_url: Callable[[], str] | None = None) -> None:
        self.config = config
        self.registry = registry
        self.catalogue = catalogue
        self.book = book
        self.gateway_name = gateway_name
        self.state_dir = state_dir
        self.topics = Topics(config.base_topic, config.ha_prefix)
        self.outbox = Outbox(state_dir / FILE_NAME, max_messages=config.outbox_max_messages,
                             max_bytes=config.outbox_max_bytes)
        self.published = PublishedTopics(state_dir / PUBLISHED_FILE_NAME)
        self.writer = OutboxWriter(self.outbox, self._committed,
                                   before_commit=self.published.save)
        self.limits = MessageLimits(config.max_message_bytes)
        self._finder = broker_finder
        self._health_interval = health_interval
        self._configuration_url = configuration_url
        self._link: BrokerLink | None = None
        self._mirror: Mirror | None = None
        self._incoming: Incoming | None = None
        self._run: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._stopped = True

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the outbox, mirror the known Things and start connecting (returns at once)."""
        if not self._stopped:
            return
        tls = tls_context(self.config)
        self.outbox.open()
        # Where the outbox cannot persist, neither can the record: both live in memory.
        self.published.persistent = self.outbox.persistent
        self.published.load()
        self._stopped = False
        info = {"version": __version__, "gateway": self.gateway_name,
                "base_topic": self.config.base_topic, "protocol": self.config.protocol,
                "ha_discovery": self.config.ha_discovery, "ha_prefix": self.config.ha_prefix,
                "log_level": log_level()}
        link = self._configuration_url() if self._configuration_url is not None else ""
        hass = (HomeAssistant(self.topics, self.gateway_name, __version__, self.config.qos,
                              configuration_url=link)
                if self.config.ha_discovery else None)
        self._mirror = Mirror(self.registry, self.topics,
                              FriendlyNames(self.book, self.config.names), hass, self.emit,
                              qos=self.config.qos, info=info, published=self.published,
                              defer=self._soon, emit_later=self.emit_later)
        self._incoming = Incoming(self.registry, self.topics, self._mirror, self.emit,
                                  self._health)
        self._link = BrokerLink(self._settings(tls), self.outbox,
                                on_connected=self._connected, on_message=self._on_message,
                                finder=self._finder, on_too_large=self.limits.refused,
                                on_acknowledged=self.writer.acknowledged)
        self._unsubscribe = self.registry.bus.subscribe("mqtt", self._on_event)
        for thing in self.registry:
            self._mirror.consider(thing)
        self._mirror.flush_devices()
        self.writer.flush()
        self._run = asyncio.create_task(self._link.run(), name="mqtt-link")

    def _settings(self, tls: Any) -> LinkSettings:
        c = self.config
        return LinkSettings(
            host=c.host, port=c.port, client_id=c.client_id or f"ocfaj-{self.gateway_name}",
            protocol=c.protocol, keepalive=c.keepalive, username=c.username,
            password=c.password, tls=tls, tls_insecure=c.tls_insecure,
            birth=Message(self.topics.bridge_state, payloads.encode({"state": "online"}), 1,
                          retain=True),
            will=Message(self.topics.bridge_state, payloads.encode({"state": "offline"}), 1,
                         retain=True),
            subscriptions=tuple(self.topics.subscriptions(c.ha_discovery)),
            health_probe=self.topics.health_probe, reconnect_max_delay=c.reconnect_max_delay,
            probe_interval=self._health_interval)

    async def wait(self) -> None:
        """Return (or raise) when the side stopped working: the link died for good."""
        if self._run is None:
            raise RuntimeError("the MQTT side is not running")
        await self._run

    async def publish_offline(self) -> None:
        """Publish ``{"state": "offline"}`` retained on ``bridge/state``, if connected."""
        if self._link is not None:
            await self._link.publish_direct(self._link.settings.will)

    async def shutdown(self) -> None:
        """Publish offline, disconnect, keep the outbox on disk (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        # Each step is bounded: a broker that stopped answering (or a connection broken under
        # paho) must not hold up the gateway's stop.
        try:
            async with asyncio.timeout(SHUTDOWN_STEP):
                await self.publish_offline()
        except TimeoutError:
            log.info("MQTT side: the offline state could not be published within %.0f s of the "
                     "stop", SHUTDOWN_STEP)
        tasks = [*self._handlers, *([self._run] if self._run else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_STEP)
            if pending:
                log.warning("MQTT side: %d tasks did not end within %.0f s of the stop; left "
                            "behind", len(pending), SHUTDOWN_STEP)
        self._handlers.clear()
        self._run = None
        self.writer.flush()
        self.published.save()
        self.outbox.close()

    def status(self) -> dict[str, Any]:
        """Counts for logs and ``ocfaj devices``."""
        link = self._link
        return {
            "connected": bool(link and link.connected),
            "broker": link.address if link else "",
            "connects": link.connects if link else 0,
            "last_error": link.last_error if link else "",
            "devices": len(self._mirror.exposed) if self._mirror else 0,
            "published": link.published if link else 0,
            "outbox_queued": self.outbox.count + self.writer.waiting,
            "outbox_bytes": self.outbox.size,
            "outbox_dropped": self.outbox.dropped,
            "outbox_persistent": self.outbox.persistent,
            "dropped_oversized": self.limits.dropped + (link.dropped_refused if link else 0),
        }

    def topics_of_devices(self) -> dict[str, str]:
        """Thing id -> the base topic of every device exposed on MQTT (``<base>/<name>``)."""
        if self._mirror is None:
            return {}
        return {thing_id: self.topics.state(name)
                for thing_id, name in self._mirror.exposed.items()}

    def rename(self, thing_id: str, new: str) -> str:
        """Give an exposed device the friendly name ``new``, as ``bridge/request/rename``
        does (same rules, same refusals: :class:`RenameRefused`); returns the old name."""
        mirror = self._mirror
        thing = mirror.thing_named(thing_id) if mirror is not None else None
        if mirror is None or thing is None:
            raise RenameRefused(f"{thing_id} is not exposed on MQTT, so it has no friendly "
                                "name to change")
        return mirror.rename(thing, new)

    def _health(self) -> dict[str, Any]:
        status = self.status()
        return {"healthy": status["connected"], **status}

    # -- plumbing ------------------------------------------------------------------------------

    def emit(self, message: Message) -> None:
        """Queue ``message`` (see :class:`OutboxWriter` for when it is committed)."""
        if self._stopped or not self.limits.admit(message):
            return
        self.writer.accept(message)

    def emit_later(self, topic: str, render: Render) -> None:
        """Queue the snapshot of ``topic`` that ``render`` builds when it is written (see
        :meth:`OutboxWriter.accept_later`); the size limits apply to what it builds."""
        if self._stopped:
            return

        def admitted() -> Message | None:
            message = render()
            return message if message is not None and self.limits.admit(message) else None

        self.writer.accept_later(topic, admitted)

    def _connected(self) -> None:
        assert self._mirror is not None
        self._mirror.snapshot()
        self._mirror.flush_devices()
        # Now, not after the interval: the snapshot replaces the same documents queued before
        # the connect, which the link is about to send.
        self.writer.flush()

    def _soon(self, call: Callable[[], None]) -> None:
        """Run ``call`` after the events of this loop turn (the mirror's device list)."""
        def run() -> None:
            if not self._stopped and self._mirror is not None:
                call()

        asyncio.get_running_loop().call_soon(run)

    def _committed(self) -> None:
        if self._link is not None:
            self._link.wake()

    def _on_event(self, event: Event) -> None:
        if self._mirror is not None:
            self._mirror.on_event(event)

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if self._incoming is None:
            return
        task = asyncio.create_task(self._incoming.handle(topic, payload, retained),
                                   name=f"mqtt-in {topic}")
        self._handlers.add(task)
        task.add_done_callback(self._handled)

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handlers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("handling an MQTT message failed", exc_info=task.exception())
