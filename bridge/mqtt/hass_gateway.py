"""Home Assistant entities of the gateway itself (the device every bridged device is ``via``).

Layer: ``bridge.mqtt`` (pure). Like zigbee2mqtt's bridge device: its connection state, version,
number of bridged devices, log level (a ``select``) and a *Refresh discovery* button. The
controls are plain gateway requests on ``<base>/bridge/request/<command>``, so whoever may send
requests (the broker's access control, docs/mqtt.md "Security") may press them, and nobody else.
"""

from __future__ import annotations

from typing import Any

from bridge.mqtt.topics import Topics

LOG_LEVELS = ("debug", "info", "warning", "error")
_STATE_TEMPLATE = "{{ value_json.state }}"


def gateway_entities(topics: Topics) -> dict[tuple[str, str], dict[str, Any]]:
    """(component, object id) -> entity-specific keys of each gateway entity."""
    info = topics.bridge_info
    return {
        ("binary_sensor", "connection_state"): {
            "name": "Connection state", "device_class": "connectivity",
            "entity_category": "diagnostic", "state_topic": topics.bridge_state,
            "value_template": _STATE_TEMPLATE, "payload_on": "online", "payload_off": "offline",
        },
        ("sensor", "version"): {
            "name": "Version", "entity_category": "diagnostic", "icon": "mdi:information",
            "state_topic": info, "value_template": "{{ value_json.version }}",
        },
        ("sensor", "device_count"): {
            "name": "Devices", "entity_category": "diagnostic", "icon": "mdi:counter",
            "state_class": "measurement", "state_topic": topics.bridge_devices,
            "value_template": "{{ value_json | count }}",
        },
        ("select", "log_level"): {
            "name": "Log level", "entity_category": "config", "options": list(LOG_LEVELS),
            "state_topic": info, "value_template": "{{ value_json.log_level }}",
            "command_topic": topics.request("log_level"),
            "command_template": '{"value": "{{ value }}"}',
        },
        ("button", "refresh_discovery"): {
            "name": "Refresh discovery", "entity_category": "config", "icon": "mdi:refresh",
            "command_topic": topics.request("refresh_discovery"), "payload_press": "{}",
        },
    }
