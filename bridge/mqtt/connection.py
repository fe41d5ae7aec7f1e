"""The broker link: one MQTT connection at a time, kept up for as long as the side runs.

Layer: ``bridge.mqtt``, the only module that imports the MQTT client (aiomqtt over paho-mqtt).
It must not build payloads or know devices: it connects (TLS, credentials, Last Will), publishes
``birth`` first, subscribes, tells the side it is connected, then runs three loops until one
fails:

- the pump: sends the outbox oldest first, a batch at a time (pipelined), and deletes each
  message once the broker acknowledged it, so order is kept and nothing is deleted unsent
  (the delete is committed by ``on_acknowledged``'s caller with its next transaction, or at
  once without one);
- the receiver: hands each incoming message to the side;
- the watchdog: an UNSUBSCRIBE round trip on a topic never subscribed (no side effects for
  anyone) every ``health_interval``; a broker or client loop that stopped answering is declared
  dead, and the connection is torn down and made again.

A message in flight when the connection is lost is sent alone on the next connections; if the
broker closes the connection each time (:data:`_FATAL_SENDS`), it is dropped and reported to
``on_too_large``, so that one message the broker will never take cannot stop all the others.

Reconnects use exponential backoff with jitter up to ``reconnect_max_delay``. A TLS link never
falls back to plaintext: the TLS context is part of every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import aiomqtt
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.enums import MQTTErrorCode

from bridge.core.errors import ConfigError
from bridge.mqtt.outbox import Message, Outbox, Queued

log = logging.getLogger("ocfaj.mqtt")

#: finds the broker for ``host = "auto"`` (mDNS ``_mqtt._tcp``): (host, port) or None.
BrokerFinder = Callable[[], Awaitable[tuple[str, int] | None]]
IncomingHandler = Callable[[str, bytes, bool], None]

_FIRST_DELAY = 0.5
#: publish errors that say the connection is gone (not that the message is bad).
_LINK_ERRORS = (MQTTErrorCode.MQTT_ERR_NO_CONN, MQTTErrorCode.MQTT_ERR_CONN_LOST,
                MQTTErrorCode.MQTT_ERR_KEEPALIVE, MQTTErrorCode.MQTT_ERR_AGAIN, None)
#: a message the client refuses this many times in a row at the head of the outbox (too large,
#: not authorised) is dropped so that it cannot block everything behind it.
_POISON_ATTEMPTS = 5
#: a message that was in flight, sent alone, when the broker closed the connection this many
#: times in a row is dropped: a broker closes the connection of a client whose message is
#: larger than it accepts (mosquitto ``message_size_limit``), and would do so after every
#: reconnect, so nothing behind it would ever get through.
_FATAL_SENDS = 2


class LinkDown(Exception):
    """The connection stopped working (the reason is the message)."""


@dataclass(frozen=True)
class LinkSettings:
    host: str
    port: int
    client_id: str
    protocol: Literal["5", "3.1.1"]
    keepalive: int
    username: str
    password: str
    tls: ssl.SSLContext | None
    tls_insecure: bool
    birth: Message
    will: Message
    subscriptions: tuple[str, ...]
    health_probe: str
    reconnect_max_delay: float
    batch: int = 500
    inflight: int = 100
    #: seconds between health probes; None derives it from ``keepalive``.
    probe_interval: float | None = None

    @property
    def health_interval(self) -> float:
        if self.probe_interval is not None:
            return self.probe_interval
        return max(0.5, min(30.0, self.keepalive / 2))

    @property
    def timeout(self) -> float:
        return max(2.0, min(10.0, float(self.keepalive)))


def backoff(attempt: int, max_delay: float) -> float:
    """Delay before reconnect attempt ``attempt`` (0-based): doubling, capped, jittered."""
    ceiling: float = min(max_delay, _FIRST_DELAY * 2.0 ** min(attempt, 30))
    return ceiling * random.uniform(0.5, 1.0)


class BrokerLink:
    """Keeps the connection; see the module docstring."""

    def __init__(self, settings: LinkSettings, outbox: Outbox, *,
                 on_connected: Callable[[], None], on_message: IncomingHandler,
                 finder: BrokerFinder | None = None,
                 on_too_large: Callable[[Message], None] | None = None,
                 on_acknowledged: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.outbox = outbox
        self._on_acknowledged = on_acknowledged
        self._on_too_large = on_too_large
        self._on_connected = on_connected
        self._on_message = on_message
        self._finder = finder
        self._wakeup = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._found: tuple[str, int] | None = None
        self._head_seq = -1
        self._head_failures = 0
        #: the oldest message sent but not acknowledged, while a batch is in flight.
        self._unacked: Queued | None = None
        #: a message in flight when a connection was lost: while there is one, messages go one
        #: at a time. Known by content, not position: the snapshot after each reconnect queues
        #: the same retained document again under a new position.
        self._suspect: Message | None = None
        self._suspect_losses = 0
        #: messages dropped because the broker closed the connection whenever they were sent.
        self.dropped_refused = 0
        self.connected = False
        self.connects = 0
        self.published = 0
        self.last_error = ""
        self.address = ""

    def wake(self) -> None:
        """Tell the pump that the outbox has something new."""
        self._wakeup.set()

    # -- connection loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, work, reconnect; returns only by cancellation (or a ConfigError)."""
        attempt = 0
        while True:
            was_connected = False
            try:
                await self._session()
            except (aiomqtt.MqttError, OSError, LinkDown, TimeoutError) as err:
                self.last_error = str(err) or type(err).__name__
            finally:
                was_connected = self.connected
                self.connected = False
                self._client = None
            if was_connected:
                attempt = 0
                log.warning("lost the MQTT broker %s: %s; %d messages wait in the outbox",
                            self.address, self.last_error, self.outbox.count)
                self._lost_with(self._unacked)
            self._unacked = None
            delay = backoff(attempt, self.settings.reconnect_max_delay)
            attempt += 1
            if not was_connected:
                log.warning("MQTT broker %s not reachable (%s); next attempt in %.1f s, %d "
                            "messages wait in the outbox", self.address or self.settings.host,
                            self.last_error, delay, self.outbox.count)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        host, port = await self._address()
        self.address = f"{host}:{port}"
        client = self._make_client(host, port)
        try:
            async with client:
                await self._serve(client)
        except MqttConnectError as err:
            self._found = None
            raise LinkDown(f"the broker refused the connection: {err}") from None
        except (aiomqtt.MqttError, OSError):
            self._found = None
            raise

    async def _serve(self, client: aiomqtt.Client) -> None:
        s = self.settings
        await client.publish(s.birth.topic, s.birth.payload, qos=s.birth.qos,
                             retain=s.birth.retain, timeout=s.timeout)
        for topic in s.subscriptions:
            await client.subscribe(topic, qos=1, timeout=s.timeout)
        self._client = client
        self.connected = True
        self.connects += 1
        self.last_error = ""
        log.info("connected to the MQTT broker %s (MQTT %s%s); %d messages to replay",
                 self.address, s.protocol, ", TLS" if s.tls else "", self.outbox.count)
        self._on_connected()
        tasks = [asyncio.create_task(self._pump(client), name="mqtt-pump"),
                 asyncio.create_task(self._receive(client), name="mqtt-receive"),
                 asyncio.create_task(self._watch(client), name="mqtt-watchdog")]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error
        raise LinkDown("a client loop stopped")

    async def _address(self) -> tuple[str, int]:
        if self.settings.host != "auto":
            return self.settings.host, self.settings.port
        if self._found is None:
            if self._finder is None:
                raise ConfigError("mqtt.host", '"auto" needs broker discovery (mDNS), which this '
                                  "gateway was started without")
            self._found = await self._finder()
            if self._found is None:
                raise LinkDown("no MQTT broker announces _mqtt._tcp on the local network")
            log.info("found the MQTT broker %s:%d by mDNS", *self._found)
        return self._found

    def _make_client(self, host: str, port: int) -> aiomqtt.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client = aiomqtt.Client(
            host, port,
            username=s.username or None, password=s.password or None,
            identifier=s.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(s.will.topic, s.will.payload, s.will.qos, s.will.retain),
            # The outbox, not the broker session, makes delivery reliable: start clean.
            clean_session=None if v5 else True,
            keepalive=s.keepalive,
            timeout=s.timeout,
            tls_context=s.tls,
            tls_insecure=True if s.tls is not None and s.tls_insecure else None,
            max_inflight_messages=s.inflight,
            # paho leaves Nagle's algorithm on: a response published right after the PUBACK of
            # the command waited for the broker's delayed ACK, about 40 ms on Linux.
            socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
            logger=logging.getLogger("ocfaj.mqtt.client"),
        )
        client.pending_calls_threshold = s.batch + 50
        return client

    # -- the three loops -----------------------------------------------------------------------

    async def _pump(self, client: aiomqtt.Client) -> None:
        while True:
            self._wakeup.clear()
            batch = self.outbox.peek(1 if self._suspect is not None else self.settings.batch)
            if not batch:
                await self._wakeup.wait()
                continue
            await self._send_batch(client, batch)

    async def _send_batch(self, client: aiomqtt.Client, batch: list[Queued]) -> None:
        # Tasks start in creation order, so paho queues the packets in outbox order.
        sends = [asyncio.create_task(self._send(client, q.message)) for q in batch]
        acked = 0
        self._unacked = batch[0]
        try:
            for send in sends:
                await send
                if batch[acked].message == self._suspect:
                    self._suspect, self._suspect_losses = None, 0
                acked += 1
                self._unacked = batch[acked] if acked < len(batch) else None
        except aiomqtt.MqttCodeError as err:
            if err.rc not in _LINK_ERRORS:
                self._note_head_failure(batch[acked])
            raise
        finally:
            for send in sends[acked:]:
                send.cancel()
            if acked:
                self._acknowledge(batch[acked - 1].seq)
                self.published += acked

    def _acknowledge(self, seq: int) -> None:
        if self._on_acknowledged is None:
            self.outbox.remove_through(seq)
        elif self.outbox.acknowledge(seq):
            self._on_acknowledged()

    async def _send(self, client: aiomqtt.Client, message: Message) -> None:
        await client.publish(message.topic, message.payload, qos=message.qos,
                             retain=message.retain, timeout=self.settings.timeout * 3)

    def _lost_with(self, in_flight: Queued | None) -> None:
        """The connection was lost with ``in_flight`` the oldest unacknowledged message."""
        if in_flight is None:
            return
        if in_flight.message != self._suspect:
            # Perhaps just a lost connection: it goes alone next time, to be sure.
            self._suspect, self._suspect_losses = in_flight.message, 0
            return
        self._suspect_losses += 1
        if self._suspect_losses < _FATAL_SENDS:
            return
        log.error("the broker %s closed the connection each time the message on %r (%d bytes) "
                  "was sent: dropped it so that the messages behind it get through; if the "
                  "broker limits message sizes, set mqtt.max_message_bytes at or below its "
                  "limit", self.address, in_flight.message.topic[:120],
                  in_flight.message.size)
        self.outbox.remove_through(in_flight.seq)
        self.dropped_refused += 1
        self._suspect, self._suspect_losses = None, 0
        if self._on_too_large is not None:
            self._on_too_large(in_flight.message)

    def _note_head_failure(self, failed: Queued) -> None:
        if failed.seq != self._head_seq:
            self._head_seq, self._head_failures = failed.seq, 0
        self._head_failures += 1
        if self._head_failures >= _POISON_ATTEMPTS:
            log.error("the broker refused the message on %s (%d bytes) %d times: dropped it so "
                      "that the messages behind it get through", failed.message.topic,
                      len(failed.message.payload), self._head_failures)
            self.outbox.remove_through(failed.seq)
            self.outbox.dropped += 1

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            data = (payload if isinstance(payload, bytes) else
                    bytes(payload) if isinstance(payload, bytearray) else
                    b"" if payload is None else str(payload).encode())
            self._on_message(message.topic.value, data, message.retain)

    async def _watch(self, client: aiomqtt.Client) -> None:
        interval = self.settings.health_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await client.unsubscribe(self.settings.health_probe, timeout=interval * 2)
            except aiomqtt.MqttError as err:
                raise LinkDown(f"no answer to a health probe within {interval * 2:.1f} s: the "
                               "connection is dead") from err

    # -- direct publishing ---------------------------------------------------------------------

    async def publish_direct(self, message: Message) -> bool:
        """Publish outside the outbox (the offline state at shutdown); False if not possible."""
        client = self._client
        if client is None or not self.connected:
            return False
        with contextlib.suppress(aiomqtt.MqttError, OSError):
            await client.publish(message.topic, message.payload, qos=message.qos,
                                 retain=message.retain, timeout=self.settings.timeout)
            return True
        return False
