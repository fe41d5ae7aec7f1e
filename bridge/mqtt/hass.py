"""Home Assistant MQTT discovery documents.

Layer: ``bridge.mqtt`` (pure). For each exposed device: one JSON-schema ``light`` entity when
the device is a lamp (:mod:`bridge.mqtt.light`), one ``climate`` entity when it is a thermostat
(:mod:`bridge.mqtt.climate`), one entity per remaining capability entity of the models'
``[mqtt]`` binding (component, device_class, unit, state_class), one ``event`` entity per
capability that emits signals, and a ``last_seen`` timestamp sensor (disabled by default).
Generic capabilities become one ``sensor`` per readable scalar property; what has no entity is
logged. The gateway itself is a device (:mod:`bridge.mqtt.hass_gateway`), and every device
names it as ``via_device``.

Every entity's ``unique_id`` and the discovery topic derive from the Thing id (the stable
identity), never from the friendly name, so a rename updates the entity instead of creating a
new one. The entity id Home Assistant gives a new entity comes from the friendly name
(``object_id``, and ``default_entity_id`` for Home Assistant 2025.10 and later). Availability
is the gateway's ``bridge/state`` and the device's own topic, both required
(``availability_mode: all``). Every device block (the gateway's too) carries the web page's
address as ``configuration_url`` when the daemon gives one; every document's ``origin`` names
the releases it is made for and the documentation (``support_url``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from bridge import DOCUMENTATION_URL
from bridge.core.thing import Capability, GenericMember, Thing
from bridge.model.types import MqttBinding, PropertySpec
from bridge.mqtt.climate import climate_config, climate_parts
from bridge.mqtt.device_info import device_details
from bridge.mqtt.hass_gateway import gateway_entities
from bridge.mqtt.light import LightParts
from bridge.mqtt.names import display_name
from bridge.mqtt.payloads import encode
from bridge.mqtt.templates import AVAILABILITY, guarded, literal, value_path
from bridge.mqtt.topics import Topics

log = logging.getLogger("ocfaj.mqtt.hass")

_SLUG = re.compile(r"[^a-z0-9]+")
_SCALAR_SIGNATURES = frozenset("bynqiuxtdsog")


def slug(text: str) -> str:
    return _SLUG.sub("_", text.lower()).strip("_")


def node_id(thing_id: str) -> str:
    """The discovery node id of a Thing: readable, and unique thanks to the hash suffix."""
    digest = hashlib.sha256(thing_id.encode()).hexdigest()[:8]
    return f"ocfaj_{slug(thing_id)[:48]}_{digest}"


def _human(text: str) -> str:
    return text.replace("_", " ").strip().capitalize()


@dataclass(frozen=True)
class Discovery:
    """One retained discovery message; an empty ``config`` removes the entity."""

    topic: str
    config: dict[str, Any]

    @property
    def payload(self) -> bytes:
        return encode(self.config) if self.config else b""


#: The oldest Home Assistant release these documents are valid for (docs/mqtt.md says why):
#: 2024.9 brought the device block's ``model_id`` (2024.8 refuses every document with it), and
#: 2025.2 ``color_temp_kelvin`` for JSON lights (earlier releases, 2025.1 too, read the light
#: state's ``color_temp`` as mireds).
MIN_HA_VERSION = "2025.2"
#: Entities of these device classes are about the device, not what it controls.
_DIAGNOSTIC_CLASSES = frozenset({"battery", "battery_charging", "signal_strength"})


class HomeAssistant:
    """Builds discovery documents for one gateway."""

    def __init__(self, topics: Topics, gateway_name: str, sw_version: str, qos: int, *,
                 configuration_url: str = "") -> None:
        self.topics = topics
        self.gateway_name = gateway_name
        self.sw_version = sw_version
        self.qos = qos
        #: The gateway's web page for Home Assistant's "Visit" link; "" leaves it out.
        self.configuration_url = configuration_url
        self.gateway_identifier = f"ocfaj_gateway_{slug(gateway_name) or 'gateway'}"

    @property
    def _origin(self) -> dict[str, str]:
        # Home Assistant shows the origin with every entity it logs about: the place to say
        # which releases this gateway's documents are made for.
        return {"name": f"ocfaj (Home Assistant {MIN_HA_VERSION} or later)",
                "sw_version": self.sw_version, "support_url": DOCUMENTATION_URL}

    def _link(self, device: dict[str, Any]) -> dict[str, Any]:
        if self.configuration_url:
            device["configuration_url"] = self.configuration_url
        return device

    def gateway(self) -> list[Discovery]:
        """The gateway's own entities (so ``via_device`` names a real device)."""
        device = self._link({"identifiers": [self.gateway_identifier],
                             "name": self.gateway_name, "manufacturer": "ocfaj",
                             "model": "OCF / AllJoyn / MQTT gateway",
                             "sw_version": self.sw_version})
        found = []
        base = slug(self.gateway_name) or "gateway"
        for (component, object_id), extra in gateway_entities(self.topics).items():
            entity = f"{base}_{object_id}"
            config = {"unique_id": f"{self.gateway_identifier}_{object_id}",
                      "object_id": entity, "default_entity_id": f"{component}.{entity}",
                      **extra, "qos": self.qos, "device": device, "origin": self._origin}
            if component != "binary_sensor":
                config["availability_topic"] = self.topics.bridge_state
                config["availability_template"] = AVAILABILITY
            found.append(Discovery(self.topics.discovery(component, self.gateway_identifier,
                                                         object_id), config))
        return found

    def device(self, thing: Thing, name: str, caps: list[Capability],
               light: LightParts | None) -> list[Discovery]:
        """Discovery documents of ``thing`` under friendly name ``name``."""
        node = node_id(thing.id)
        common = self._common(thing, name, node)
        found: list[Discovery] = []
        taken: set[str] = set()
        if light is not None:
            found.append(self._light(common, node, name, light, thing))
            taken.update(light.keys)
        climate = climate_parts([c for c in caps if c.key not in taken])
        if climate is not None:
            found.append(self._entity(common, node, name, "climate", "climate", None,
                                      climate_config(thing, climate, self.topics.state(name),
                                                     self.topics.command(name, "set"))))
            taken.update(climate.taken)
        for cap in caps:
            if cap.key in taken:
                continue
            if cap.model is not None:
                found += self._model_entities(common, node, name, cap)
            else:
                found += self._generic_entities(common, node, name, cap, thing)
            if cap.generic is not None and cap.generic.signals:
                found.append(self._event(common, node, name, cap, cap.generic.signals))
        found.append(self._entity(common, node, name, "sensor", "last_seen", "Last seen", {
            "state_topic": self.topics.last_seen(name),
            # "None" is Home Assistant's "no value", where an empty result is an invalid time.
            "value_template": guarded("value_json.last_seen", "None"),
            "device_class": "timestamp",
            "entity_category": "diagnostic", "enabled_by_default": False}))
        return found

    def _common(self, thing: Thing, name: str, node: str) -> dict[str, Any]:
        device: dict[str, Any] = {"identifiers": [node], "name": display_name(thing, name)}
        device.update(device_details(thing))
        device["via_device"] = self.gateway_identifier
        self._link(device)
        return {
            "availability": [
                {"topic": self.topics.bridge_state, "value_template": AVAILABILITY},
                {"topic": self.topics.availability(name), "value_template": AVAILABILITY},
            ],
            "availability_mode": "all",
            "device": device,
            "origin": self._origin,
            "qos": self.qos,
        }

    def _entity(self, common: dict[str, Any], node: str, name: str, component: str,
                object_id: str, entity_name: str | None, extra: dict[str, Any]) -> Discovery:
        entity = slug(name) or "device"
        if entity_name is not None:
            entity = f"{entity}_{slug(entity_name)}"
        config = {"name": entity_name, "unique_id": f"{node}_{object_id}",
                  "object_id": entity, "default_entity_id": f"{component}.{entity}",
                  **common, **extra}
        return Discovery(self.topics.discovery(component, node, object_id), config)

    def _event(self, common: dict[str, Any], node: str, name: str, cap: Capability,
               signals: tuple[GenericMember, ...]) -> Discovery:
        # Every capability of a device shares its /event topic: the template passes on only
        # this capability's events (an empty result is ignored by Home Assistant).
        key = literal(cap.key)
        return self._entity(common, node, name, "event", f"{slug(cap.key)}_event",
                            f"{_human(cap.key)} event", {
                                "state_topic": self.topics.event(name),
                                "event_types": [s.name for s in signals],
                                "value_template": "{% if value_json is defined and "
                                                  f"value_json.capability == {key} %}}"
                                                  "{{ value }}{% endif %}"})

    def _light(self, common: dict[str, Any], node: str, name: str, parts: LightParts,
               thing: Thing) -> Discovery:
        extra: dict[str, Any] = {
            "schema": "json",
            "state_topic": self.topics.light_state(name),
            "command_topic": self.topics.command(name, "light/set"),
            "supported_color_modes": parts.colour_modes,
        }
        if parts.brightness:
            extra["brightness"] = True
            extra["brightness_scale"] = 100
        if parts.colour_temperature:
            cap = thing.capabilities[parts.colour_temperature]
            spec = cap.spec("colour_temperature")
            extra["color_temp_kelvin"] = True
            if spec is not None and spec.minimum is not None and spec.maximum is not None:
                extra["min_kelvin"] = int(spec.minimum)
                extra["max_kelvin"] = int(spec.maximum)
        return self._entity(common, node, name, "light", "light", None, extra)

    def _model_entities(self, common: dict[str, Any], node: str, name: str,
                        cap: Capability) -> list[Discovery]:
        assert cap.model is not None
        bindings = cap.model.mqtt.entities
        found: list[Discovery] = []
        for binding in bindings:
            spec = cap.spec(binding.state_property)  # with the device's own range, step
            if spec is None:
                log.warning("model %s: mqtt state_property %r is no property; no entity",
                            cap.model.id, binding.state_property)
                continue
            title = _human(cap.key) if len(bindings) == 1 else (
                f"{_human(cap.key)} {binding.state_property.replace('_', ' ')}")
            doc = self._model_entity(common, node, name, cap, binding, spec, title)
            if doc is None:
                log.info("%s: capability %s (%s) has no Home Assistant entity of component %r; "
                         "its state is still on %s", name, cap.key, cap.model.id,
                         binding.component, self.topics.state(name))
            else:
                found.append(doc)
        return found

    def _model_entity(self, common: dict[str, Any], node: str, name: str, cap: Capability,
                      binding: MqttBinding, spec: PropertySpec, title: str) -> Discovery | None:
        component = binding.component
        if component == "light":
            # A light capability outside the combined light entity (no switch, or a second
            # instance): its properties are plain numbers.
            component = "number" if spec.writable and spec.type in ("integer", "number") \
                else "sensor"
        path = value_path(cap.key, spec.name)
        object_id = f"{cap.key}_{spec.name}"
        extra: dict[str, Any] = {"state_topic": self.topics.state(name)}
        on = True if binding.payload_on is None else binding.payload_on
        off = False if binding.payload_off is None else binding.payload_off
        on_off = guarded(f"'ON' if {path} == {literal(on)} else 'OFF'")
        if component == "sensor":
            extra["value_template"] = guarded(path)
        elif component == "binary_sensor":
            extra.update(value_template=on_off, payload_on="ON", payload_off="OFF")
        elif component == "switch":
            extra.update(value_template=on_off, state_on="ON", state_off="OFF",
                         command_topic=self.topics.command(name, "set"),
                         payload_on=encode({cap.key: {spec.name: on}}).decode(),
                         payload_off=encode({cap.key: {spec.name: off}}).decode())
        elif component == "lock":
            extra.update(
                value_template=guarded(f"'LOCKED' if {path} == {literal(on)} else 'UNLOCKED'"),
                state_locked="LOCKED", state_unlocked="UNLOCKED",
                command_topic=self.topics.command(name, "set"),
                payload_lock=encode({cap.key: {spec.name: on}}).decode(),
                payload_unlock=encode({cap.key: {spec.name: off}}).decode())
        elif component == "number" and spec.type in ("integer", "number"):
            value = "{{ value | int }}" if spec.type == "integer" else "{{ value }}"
            extra.update(value_template=guarded(path),
                         command_topic=self.topics.command(name, "set"),
                         command_template=f'{{"{cap.key}": {{"{spec.name}": {value}}}}}',
                         min=spec.minimum if spec.minimum is not None else -1e9,
                         max=spec.maximum if spec.maximum is not None else 1e9,
                         step=spec.step or (1 if spec.type == "integer" else 0.1),
                         mode="box")
        else:
            return None
        unit = binding.unit if binding.component == component else spec.unit
        if unit:
            extra["unit_of_measurement"] = unit
        if binding.device_class and binding.component == component:
            extra["device_class"] = binding.device_class
        if binding.state_class and component == "sensor" and binding.component == component:
            extra["state_class"] = binding.state_class
        if binding.icon:
            extra["icon"] = binding.icon
        if extra.get("device_class") in _DIAGNOSTIC_CLASSES:
            extra["entity_category"] = "diagnostic"
        return self._entity(common, node, name, component, object_id, title, extra)

    def _generic_entities(self, common: dict[str, Any], node: str, name: str, cap: Capability,
                          thing: Thing) -> list[Discovery]:
        assert cap.generic is not None
        found: list[Discovery] = []
        for prop in cap.generic.properties:
            if prop.signature not in _SCALAR_SIGNATURES and prop.signature != "b":
                log.info("%s (%s): generic property %s.%s (%s) has no Home Assistant entity; "
                         "it is on %s", name, thing.id, cap.key, prop.name, prop.signature,
                         self.topics.state(name))
                continue
            path = value_path(cap.key, prop.name)
            object_id = slug(f"{cap.key}_{prop.name}")
            if prop.signature == "b":
                extra = {"state_topic": self.topics.state(name), "payload_on": "ON",
                         "payload_off": "OFF",
                         "value_template": guarded(f"'ON' if {path} else 'OFF'")}
                component = "binary_sensor"
            else:
                extra = {"state_topic": self.topics.state(name),
                         "value_template": guarded(path)}
                component = "sensor"
            found.append(self._entity(common, node, name, component, object_id,
                                      f"{_human(cap.key)} {prop.name}", extra))
        return found
