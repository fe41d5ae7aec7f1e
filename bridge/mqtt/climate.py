"""One Home Assistant ``climate`` entity per thermostat: set point, reading and humidity.

Layer: ``bridge.mqtt`` (pure). A device with a ``target_temperature`` capability is a
thermostat to Home Assistant: its set point, the measured ``temperature`` and ``humidity`` (when
the device has them) make one ``climate`` entity, with ``min_temp``, ``max_temp`` and
``temp_step`` from the device's own limits (the model's defaults where it declares none). The
entity reads the device's state topic and writes through ``/set`` in the state shape, so the
registry checks every set point against the same range.

The models have no operating mode, so the entity has the single mode ``heat``: a thermostat
that holds a set point. The set point's own ``number`` entity is left out (the climate entity
is how people set it); the measured temperature keeps its ``sensor`` for long-term statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.core.thing import Capability, Thing
from bridge.mqtt.templates import guarded, value_path

TARGET, CURRENT, HUMIDITY = "target_temperature", "temperature", "humidity"
#: Home Assistant accepts only these display precisions for a climate entity.
_PRECISIONS = (0.1, 0.5, 1.0)


@dataclass(frozen=True)
class ClimateParts:
    """Capability keys that make up a device's climate entity."""

    target: str
    current: str | None = None
    humidity: str | None = None

    @property
    def taken(self) -> tuple[str, ...]:
        """Capabilities whose own entities the climate entity replaces."""
        return (self.target,)


def _first(caps: list[Capability], model_id: str) -> str | None:
    found = sorted((c for c in caps if c.model is not None and c.model.id == model_id),
                   key=lambda c: (len(c.key), c.key))
    return found[0].key if found else None


def climate_parts(caps: list[Capability]) -> ClimateParts | None:
    """The climate entity of a device with (visible) ``caps``, or None when it has none."""
    target = _first(caps, TARGET)
    if target is None:
        return None
    return ClimateParts(target, _first(caps, CURRENT), _first(caps, HUMIDITY))


def _precision(step: float) -> float:
    return max((p for p in _PRECISIONS if p <= step), default=_PRECISIONS[0])


def climate_config(thing: Thing, parts: ClimateParts, state_topic: str,
                   command_topic: str) -> dict[str, Any]:
    """The entity-specific keys of the climate discovery document."""
    spec = thing.capabilities[parts.target].spec(TARGET)
    assert spec is not None, "target_temperature model without its property"
    step = spec.step or 0.5
    config: dict[str, Any] = {
        "modes": ["heat"],
        "mode_state_topic": state_topic,
        "mode_state_template": "{{ 'heat' }}",
        "temperature_state_topic": state_topic,
        "temperature_state_template": guarded(value_path(parts.target, TARGET)),
        "temperature_command_topic": command_topic,
        "temperature_command_template":
            f'{{"{parts.target}": {{"{TARGET}": {{{{ value }}}}}}}}',
        "temperature_unit": "C",
        "temp_step": step,
        "precision": _precision(step),
    }
    if spec.minimum is not None:
        config["min_temp"] = spec.minimum
    if spec.maximum is not None:
        config["max_temp"] = spec.maximum
    if parts.current is not None:
        config.update(current_temperature_topic=state_topic,
                      current_temperature_template=guarded(value_path(parts.current, CURRENT)))
    if parts.humidity is not None:
        config.update(current_humidity_topic=state_topic,
                      current_humidity_template=guarded(value_path(parts.humidity, HUMIDITY)))
    return config
