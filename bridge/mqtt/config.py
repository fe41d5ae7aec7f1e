"""Settings of the MQTT side: the ``[mqtt]`` section of the configuration file.

Layer: ``bridge.mqtt``, but pure data: standard library only. It must not import the MQTT
client library nor do I/O, so that the configuration loader and the documentation generator can
read it without the MQTT adapter's dependencies installed.

Each attribute's docstring is its user documentation (docs/configuration.md is generated from
it); ``metadata`` holds the bounds the loader enforces (``ge``/``gt``/``le``/``check``) and
``secret``: a key that may come only from the secrets file or the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# Topic levels are separated by "/"; "+" and "#" are wildcards, never part of a published topic
# (MQTT 5.0 section 4.7).
_TOPIC_PREFIX = re.compile(r"^[^/+#\x00]+(/[^/+#\x00]+)*$")


def _topic_prefix(value: str) -> str | None:
    if _TOPIC_PREFIX.match(value):
        return None
    return f"expected topic levels joined by '/', without '+', '#' or empty levels, got {value!r}"


@dataclass(frozen=True)
class MqttConfig:
    """The MQTT side: every bridged device mirrored to a broker (state, availability, commands)
    with Home Assistant discovery. Credentials belong in the secrets file (``secrets_file``)."""

    enabled: bool = False
    """Connect to an MQTT broker. Setting ``host`` (in any layer) turns this on unless
    ``enabled = false`` is written somewhere."""

    host: str = ""
    """Broker host name or address; ``auto`` finds the broker by mDNS (``_mqtt._tcp``).
    Required when MQTT is enabled."""

    port: int = field(default=1883, metadata={"ge": 1, "le": 65535})
    """Broker TCP port; brokers usually listen on 8883 for TLS."""

    base_topic: str = field(default="ocfaj", metadata={"check": _topic_prefix})
    """First topic level(s) of everything the gateway publishes, e.g. ``ocfaj/<device>/state``."""

    client_id: str = ""
    """MQTT client identifier. Empty means ``ocfaj-<gateway.name>``; it must be unique per
    broker, so two gateways need different names or ids."""

    protocol: Literal["5", "3.1.1"] = "5"
    """MQTT protocol version: ``"5"`` or ``"3.1.1"`` for old brokers."""

    keepalive: int = field(default=60, metadata={"ge": 1, "le": 65535})
    """Seconds between keep-alive pings; the broker drops the gateway after 1.5 times this."""

    qos: Literal[0, 1, 2] = 1
    """Quality of service of state and availability messages: 0, 1 or 2."""

    tls: bool = False
    """Connect with TLS."""

    ca_file: Path | None = None
    """PEM file of the certificate authorities to trust; empty uses the system's."""

    cert_file: Path | None = None
    """PEM client certificate, for brokers that authenticate clients by certificate."""

    key_file: Path | None = None
    """PEM private key of ``cert_file``."""

    tls_insecure: bool = False
    """Skip the check that the broker's certificate matches ``host``. For tests only."""

    username: str = ""
    """User name for the broker; the secrets file may set it too (and wins over this key)."""

    password: str = field(default="", repr=False, metadata={"secret": True})
    """Password for the broker. Only from the secrets file or the ``OCFAJ_MQTT_PASSWORD``
    environment variable: never in the main file or on the command line."""

    secrets_file: Path | None = None
    """TOML file holding ``username`` and ``password``, readable by the gateway's user only."""

    ha_discovery: bool = True
    """Publish Home Assistant MQTT discovery messages for every bridged device."""

    ha_prefix: str = field(default="homeassistant", metadata={"check": _topic_prefix})
    """Home Assistant's discovery prefix."""

    outbox_max_messages: int = field(default=100000, metadata={"ge": 1})
    """Most messages kept (on disk, in the state directory) while the broker is unreachable;
    beyond it the oldest state messages are dropped."""

    outbox_max_bytes: int = field(default=64 * 1024 * 1024, metadata={"ge": 1024})
    """Most bytes kept in the outbox (default 64 MiB)."""

    max_message_bytes: int = field(default=1024 * 1024, metadata={"ge": 1024,
                                                                "le": 268435455})
    """Largest message (topic plus payload, in bytes) the gateway publishes; a larger one is
    dropped before it is queued, counted (``dropped_oversized`` in ``health_check``) and logged.
    Set it at or below the broker's own limit (mosquitto ``message_size_limit``, EMQX
    ``max_packet_size``, 1 MiB by default there): a broker closes the connection of a client
    that sends more. MQTT itself allows 268,435,455."""

    reconnect_max_delay: float = field(default=60.0, metadata={"gt": 0})
    """Longest pause in seconds between two attempts to reach the broker."""

    names: dict[str, str] = field(default_factory=dict)
    """Friendly names by device id, used in topics and Home Assistant instead of the device's
    own name: ``[mqtt.names]`` then ``"<id>" = "Kitchen light"``. From the environment:
    ``id1=Name one,id2=Name two``."""

    def problems(self) -> list[tuple[str, str]]:
        """Inconsistencies between keys, as (key, problem) pairs."""
        found: list[tuple[str, str]] = []
        if self.enabled and not self.host:
            found.append(("host", 'required when enabled is true (a host, or "auto")'))
        if (self.cert_file is None) != (self.key_file is None):
            found.append(("key_file", "cert_file and key_file go together: set both or neither"))
        return found
