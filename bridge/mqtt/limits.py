"""The size bounds of what the gateway publishes, applied before a message is queued.

Layer: ``bridge.mqtt`` (pure: no MQTT client, no I/O besides log lines). A topic is at most
65,535 bytes of UTF-8 (MQTT 5.0 section 1.5.4: a two-byte length), and a whole message at most
``mqtt.max_message_bytes``: a broker closes the connection of a client that sends more than it
accepts (mosquitto's ``message_size_limit``, EMQX's ``max_packet_size``), and the message
would be sent again after every reconnect. So a message that cannot be sent is dropped here,
counted, and logged at most once a minute per topic; everything else keeps flowing. When the
broker turns out to accept less than configured (it closed the connection whenever a message
was sent, see :mod:`bridge.mqtt.connection`), the bound drops below that message's size.
"""

from __future__ import annotations

import logging
import time

from bridge.mqtt.outbox import Message

log = logging.getLogger("ocfaj.mqtt")

#: the longest topic MQTT can carry (a two-byte length prefix).
MAX_TOPIC_BYTES = 65535
#: seconds between two log lines about the same topic.
_LOG_INTERVAL = 60.0


class MessageLimits:
    """Decides whether a message may be queued; counts and reports the ones that may not."""

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        #: messages dropped because they could never be sent.
        self.dropped = 0
        self._logged: dict[str, tuple[float, int]] = {}

    def admit(self, message: Message) -> bool:
        """True when ``message`` may be queued; otherwise it is counted and reported."""
        try:
            topic_bytes = len(message.topic.encode())
        except UnicodeEncodeError:
            return self._drop(message, "its topic is not UTF-8 text")
        if topic_bytes > MAX_TOPIC_BYTES:
            return self._drop(message, f"its topic is {topic_bytes} bytes, more than the "
                                       f"{MAX_TOPIC_BYTES} MQTT allows")
        size = topic_bytes + len(message.payload)
        limit = self.max_message_bytes
        if size > limit:
            return self._drop(message, f"it is {size} bytes, more than the {limit} allowed "
                                       "(mqtt.max_message_bytes, or what the broker showed it "
                                       "takes)")
        return True

    def refused(self, message: Message) -> None:
        """The broker closed the connection whenever ``message`` was sent: from now on (until
        the gateway restarts) nothing of its size is queued, so that the snapshot published
        after each reconnect does not bring it back."""
        if message.size <= self.max_message_bytes:
            self.max_message_bytes = max(1, message.size - 1)
            log.warning("the broker does not take messages of %d bytes: messages of that size "
                        "or more are dropped before they are queued from now on; set "
                        "mqtt.max_message_bytes to the broker's limit", message.size)

    def _drop(self, message: Message, why: str) -> bool:
        self.dropped += 1
        topic = message.topic[:120]
        now = time.monotonic()
        last, quiet = self._logged.get(topic, (-_LOG_INTERVAL, 0))
        if now - last < _LOG_INTERVAL:
            self._logged[topic] = (last, quiet + 1)
            return False
        more = f" ({quiet} more since the last report)" if quiet else ""
        log.error("not publishing a message on %r: %s; dropped it, the others go on%s",
                  topic, why, more)
        self._logged[topic] = (now, 0)
        return False
