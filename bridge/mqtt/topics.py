"""The topic tree of the MQTT side.

Layer: ``bridge.mqtt`` (pure: no I/O, no MQTT client). Every topic the gateway publishes or
subscribes to is spelled here, and incoming topics are parsed back here, so the tree is
documented (docs/mqtt.md) and tested in one place.

Friendly names are single topic levels (see :mod:`bridge.mqtt.names`), so parsing
``<base>/<name>/<suffix>`` is unambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DeviceVerb = Literal["set", "get", "light/set"]


@dataclass(frozen=True)
class DeviceCommand:
    """A command topic of one device: ``<base>/<name>/set``, ``/get`` or ``/light/set``."""

    name: str
    verb: DeviceVerb


@dataclass(frozen=True)
class BridgeRequest:
    """``<base>/bridge/request/<command>``."""

    command: str


@dataclass(frozen=True)
class HomeAssistantStatus:
    """``<ha_prefix>/status``: Home Assistant's birth and last-will topic."""


Incoming = DeviceCommand | BridgeRequest | HomeAssistantStatus


@dataclass(frozen=True)
class Topics:
    """Topic names under ``base`` (``[mqtt] base_topic``) and ``ha_prefix``."""

    base: str = "ocfaj"
    ha_prefix: str = "homeassistant"

    # -- gateway ---------------------------------------------------------------------------------

    @property
    def bridge_state(self) -> str:
        return f"{self.base}/bridge/state"

    @property
    def bridge_info(self) -> str:
        return f"{self.base}/bridge/info"

    @property
    def bridge_devices(self) -> str:
        return f"{self.base}/bridge/devices"

    @property
    def bridge_event(self) -> str:
        return f"{self.base}/bridge/event"

    @property
    def health_probe(self) -> str:
        # Never subscribed: unsubscribing from it is a round trip without side effects.
        return f"{self.base}/bridge/health_probe"

    def response(self, command: str) -> str:
        return f"{self.base}/bridge/response/{command}"

    def request(self, command: str) -> str:
        return f"{self.base}/bridge/request/{command}"

    # -- devices ---------------------------------------------------------------------------------

    def state(self, name: str) -> str:
        return f"{self.base}/{name}"

    def availability(self, name: str) -> str:
        return f"{self.base}/{name}/availability"

    def event(self, name: str) -> str:
        return f"{self.base}/{name}/event"

    def last_seen(self, name: str) -> str:
        return f"{self.base}/{name}/last_seen"

    def light_state(self, name: str) -> str:
        return f"{self.base}/{name}/light"

    def command(self, name: str, verb: DeviceVerb) -> str:
        return f"{self.base}/{name}/{verb}"

    # -- Home Assistant --------------------------------------------------------------------------

    @property
    def ha_status(self) -> str:
        return f"{self.ha_prefix}/status"

    def discovery(self, component: str, node_id: str, object_id: str) -> str:
        return f"{self.ha_prefix}/{component}/{node_id}/{object_id}/config"

    # -- subscriptions ---------------------------------------------------------------------------

    def subscriptions(self, ha_discovery: bool) -> list[str]:
        subs = [f"{self.base}/+/set", f"{self.base}/+/get", f"{self.base}/+/light/set",
                f"{self.base}/bridge/request/+"]
        if ha_discovery:
            subs.append(self.ha_status)
        return subs

    def parse(self, topic: str) -> Incoming | None:
        """What an incoming topic addresses, or None when it is none of ours."""
        if topic == self.ha_status:
            return HomeAssistantStatus()
        prefix = f"{self.base}/"
        if not topic.startswith(prefix):
            return None
        levels = topic[len(prefix):].split("/")
        if len(levels) == 3 and levels[:2] == ["bridge", "request"] and levels[2]:
            return BridgeRequest(levels[2])
        if levels[0] == "bridge" or not levels[0]:
            return None
        if len(levels) == 2 and levels[1] in ("set", "get"):
            return DeviceCommand(levels[0], "set" if levels[1] == "set" else "get")
        if len(levels) == 3 and levels[1:] == ["light", "set"]:
            return DeviceCommand(levels[0], "light/set")
        return None
