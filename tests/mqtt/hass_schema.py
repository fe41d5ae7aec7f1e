"""A checker for Home Assistant MQTT discovery payloads, written from Home Assistant's docs.

Test support only. Sources: home-assistant.io/integrations/mqtt (discovery, availability,
device block), .../sensor.mqtt, binary_sensor.mqtt, switch.mqtt, light.mqtt (JSON schema),
lock.mqtt, number.mqtt, and developers.home-assistant.io entity docs for the device classes.
It checks what Home Assistant's voluptuous schemas reject: unknown keys, missing required keys,
wrong types, device classes not allowed for the component, a malformed availability list or
device block, and the rules for ``supported_color_modes``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

SENSOR_CLASSES = frozenset("""
absolute_humidity apparent_power aqi area atmospheric_pressure battery
blood_glucose_concentration carbon_dioxide carbon_monoxide conductivity current data_rate
data_size date distance duration energy energy_distance energy_storage enum frequency gas
humidity illuminance irradiance moisture monetary nitrogen_dioxide nitrogen_monoxide
nitrous_oxide ozone ph pm1 pm10 pm25 power power_factor precipitation precipitation_intensity
pressure reactive_energy reactive_power signal_strength sound_pressure speed sulphur_dioxide
temperature timestamp volatile_organic_compounds volatile_organic_compounds_parts voltage volume
volume_flow_rate volume_storage water weight wind_direction wind_speed
""".split())
NUMBER_CLASSES = SENSOR_CLASSES - {"date", "enum", "timestamp"}
BINARY_SENSOR_CLASSES = frozenset("""
battery battery_charging carbon_monoxide cold connectivity door garage_door gas heat light lock
moisture motion moving occupancy opening plug power presence problem running safety smoke sound
tamper update vibration window
""".split())
SWITCH_CLASSES = frozenset({"outlet", "switch"})
STATE_CLASSES = frozenset({"measurement", "measurement_angle", "total", "total_increasing"})
COLOR_MODES = frozenset({"onoff", "brightness", "color_temp", "hs", "xy", "rgb", "rgbw",
                         "rgbww", "white"})

COMMON = frozenset({
    "availability", "availability_mode", "availability_template", "availability_topic",
    "device", "enabled_by_default", "encoding", "entity_category", "entity_picture",
    "icon", "json_attributes_template", "json_attributes_topic", "name", "object_id",
    "default_entity_id", "origin", "payload_available", "payload_not_available", "qos",
    "unique_id", "platform",
})
KEYS: dict[str, frozenset[str]] = {
    "sensor": COMMON | {"device_class", "expire_after", "force_update", "last_reset_value_template",
                        "options", "suggested_display_precision", "state_class", "state_topic",
                        "unit_of_measurement", "value_template"},
    "binary_sensor": COMMON | {"device_class", "expire_after", "force_update", "off_delay",
                               "payload_off", "payload_on", "state_topic", "value_template"},
    "switch": COMMON | {"command_template", "command_topic", "device_class", "optimistic",
                        "payload_off", "payload_on", "retain", "state_off", "state_on",
                        "state_topic", "value_template"},
    "lock": COMMON | {"code_format", "command_template", "command_topic", "optimistic",
                      "payload_lock", "payload_open", "payload_reset", "payload_unlock",
                      "retain", "state_jammed", "state_locked", "state_locking", "state_open",
                      "state_opening", "state_topic", "state_unlocked", "state_unlocking",
                      "value_template"},
    "number": COMMON | {"command_template", "command_topic", "device_class", "max", "min",
                        "mode", "optimistic", "payload_reset", "retain", "state_topic", "step",
                        "unit_of_measurement", "value_template"},
    "light": COMMON | {"schema", "brightness", "brightness_scale", "color_temp_kelvin",
                       "command_topic", "effect", "effect_list", "flash", "flash_time_long",
                       "flash_time_short", "max_kelvin", "max_mireds", "min_kelvin",
                       "min_mireds", "optimistic", "retain", "state_topic",
                       "supported_color_modes", "transition", "white_scale"},
    "climate": COMMON | {"current_humidity_template", "current_humidity_topic",
                         "current_temperature_template", "current_temperature_topic",
                         "max_temp", "min_temp", "mode_command_template", "mode_command_topic",
                         "mode_state_template", "mode_state_topic", "modes", "optimistic",
                         "precision", "retain", "temp_step", "temperature_command_template",
                         "temperature_command_topic", "temperature_state_template",
                         "temperature_state_topic", "temperature_unit"},
    "event": COMMON | {"device_class", "event_types", "state_topic", "value_template"},
    "select": COMMON | {"command_template", "command_topic", "optimistic", "options",
                        "retain", "state_topic", "value_template"},
    "button": COMMON | {"command_template", "command_topic", "device_class", "payload_press",
                        "retain"},
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "sensor": ("state_topic",), "binary_sensor": ("state_topic",),
    "switch": ("command_topic",), "lock": ("command_topic",), "number": ("command_topic",),
    "light": ("command_topic",), "climate": (), "event": ("state_topic", "event_types"),
    "select": ("command_topic", "options"), "button": ("command_topic",),
}
DEVICE_KEYS = frozenset({"configuration_url", "connections", "hw_version", "identifiers",
                         "manufacturer", "model", "model_id", "name", "serial_number",
                         "suggested_area", "sw_version", "via_device"})
ORIGIN_KEYS = frozenset({"name", "sw_version", "support_url"})
AVAILABILITY_KEYS = frozenset({"topic", "payload_available", "payload_not_available",
                               "value_template"})


def _topic_ok(value: Any) -> bool:
    return isinstance(value, str) and value != "" and "+" not in value and "#" not in value


def problems(component: str, config: dict[str, Any]) -> list[str]:
    """What Home Assistant would reject in ``config`` for ``component``; empty when valid."""
    found: list[str] = []
    if component not in KEYS:
        return [f"component {component!r} is not one this checker knows"]
    unknown = set(config) - KEYS[component]
    if unknown:
        found.append(f"unknown keys {sorted(unknown)}")
    for key in REQUIRED[component]:
        if key not in config:
            found.append(f"missing required {key}")
    for key, value in config.items():
        if key.endswith("_topic") and not _topic_ok(value):
            found.append(f"{key}: not a valid publish/subscribe topic: {value!r}")
    if "qos" in config and config["qos"] not in (0, 1, 2):
        found.append("qos must be 0, 1 or 2")
    if not isinstance(config.get("unique_id"), str) or not config["unique_id"]:
        found.append("unique_id is required for a device block and must be a string")
    if "name" in config and config["name"] is not None and not isinstance(config["name"], str):
        found.append("name must be a string or null")
    if config.get("entity_category") not in (None, "config", "diagnostic"):
        found.append("entity_category must be config or diagnostic")
    found += _availability(config)
    found += _device(config.get("device"))
    found += _origin(config.get("origin"))
    found += _device_class(component, config)
    if component == "light":
        found += _light(config)
    if component == "number":
        for key in ("min", "max", "step"):
            if key in config and not isinstance(config[key], int | float):
                found.append(f"{key} must be a number")
        if config.get("mode", "auto") not in ("auto", "box", "slider"):
            found.append("mode must be auto, box or slider")
        if "min" in config and "max" in config and config["min"] > config["max"]:
            found.append("min must not exceed max")
    return found


def _availability(config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    if "availability" in config and "availability_topic" in config:
        found.append("availability and availability_topic are mutually exclusive")
    if "availability" in config:
        entries = config["availability"]
        if not isinstance(entries, list) or not entries:
            return ["availability must be a non-empty list"]
        for entry in entries:
            if not isinstance(entry, dict) or not _topic_ok(entry.get("topic")):
                found.append(f"availability entry without a valid topic: {entry!r}")
            elif set(entry) - AVAILABILITY_KEYS:
                found.append(f"availability entry with unknown keys {sorted(set(entry))}")
    if config.get("availability_mode", "latest") not in ("all", "any", "latest"):
        found.append("availability_mode must be all, any or latest")
    return found


def _device(device: Any) -> list[str]:
    if device is None:
        return []
    if not isinstance(device, dict):
        return ["device must be a mapping"]
    found: list[str] = []
    if set(device) - DEVICE_KEYS:
        found.append(f"device has unknown keys {sorted(set(device) - DEVICE_KEYS)}")
    ids, conns = device.get("identifiers"), device.get("connections")
    if not ids and not conns:
        found.append("device needs identifiers or connections")
    if ids is not None and not (isinstance(ids, str) or (
            isinstance(ids, list) and all(isinstance(i, str) for i in ids))):
        found.append("device identifiers must be a string or a list of strings")
    for key in DEVICE_KEYS - {"identifiers", "connections"}:
        if key in device and not isinstance(device[key], str):
            found.append(f"device {key} must be a string")
    if "configuration_url" in device and not _url_ok(device["configuration_url"],
                                                     ("http", "https", "homeassistant")):
        found.append(f"device configuration_url is no URL: {device['configuration_url']!r}")
    return found


def _url_ok(value: Any, schemes: tuple[str, ...]) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in schemes and bool(parts.netloc)


def _origin(origin: Any) -> list[str]:
    """Home Assistant's origin block: a name, and optionally a version and an http(s) URL."""
    if origin is None:
        return []
    if not isinstance(origin, dict) or not isinstance(origin.get("name"), str):
        return ["origin must be a mapping with a name"]
    found = []
    if set(origin) - ORIGIN_KEYS:
        found.append(f"origin has unknown keys {sorted(set(origin) - ORIGIN_KEYS)}")
    if "support_url" in origin and not _url_ok(origin["support_url"], ("http", "https")):
        found.append(f"origin support_url is no URL: {origin['support_url']!r}")
    return found


def _device_class(component: str, config: dict[str, Any]) -> list[str]:
    cls = config.get("device_class")
    allowed = {"sensor": SENSOR_CLASSES, "number": NUMBER_CLASSES,
               "binary_sensor": BINARY_SENSOR_CLASSES, "switch": SWITCH_CLASSES}.get(component)
    found: list[str] = []
    if cls is not None and (allowed is None or cls not in allowed):
        found.append(f"device_class {cls!r} is not valid for {component}")
    state_class = config.get("state_class")
    if state_class is not None and state_class not in STATE_CLASSES:
        found.append(f"state_class {state_class!r} is not valid")
    if cls == "energy" and state_class == "measurement":
        found.append("an energy sensor must use state_class total or total_increasing")
    return found


def _light(config: dict[str, Any]) -> list[str]:
    found: list[str] = []
    if config.get("schema") != "json":
        found.append("this gateway's lights use schema json")
    modes = config.get("supported_color_modes")
    if modes is not None:
        if not isinstance(modes, list) or not modes or set(modes) - COLOR_MODES:
            found.append(f"supported_color_modes invalid: {modes!r}")
        elif ({"onoff", "brightness"} & set(modes)) and len(modes) > 1:
            found.append("onoff and brightness must be the only colour mode when present")
    if "brightness_scale" in config and (not isinstance(config["brightness_scale"], int)
                                         or config["brightness_scale"] < 1):
        found.append("brightness_scale must be a positive integer")
    if ("min_kelvin" in config or "max_kelvin" in config) and not config.get("color_temp_kelvin"):
        found.append("min_kelvin/max_kelvin go with color_temp_kelvin")
    return found
