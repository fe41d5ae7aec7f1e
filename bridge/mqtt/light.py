"""One Home Assistant light per device: switch + brightness + colour combined (JSON schema).

Layer: ``bridge.mqtt`` (pure). Home Assistant controls a lamp as one ``light`` entity, not as a
switch next to three numbers, and its JSON-schema light speaks its own payload on its own
topics (``<base>/<name>/light`` and ``<base>/<name>/light/set``):
``{"state": "ON", "brightness": 0..100, "color_mode": "hs", "color": {"h": 0..360, "s": 0..100},
"color_temp": kelvin}``. The discovery document sets ``brightness_scale: 100`` and
``color_temp_kelvin: true``, so values map one to one to the canonical ``brightness``,
``hue``/``saturation`` and ``colour_temperature`` properties of the models.

Home Assistant releases that ignore ``color_temp_kelvin`` send mireds (micro reciprocal
degrees, 10^6 / kelvin) instead. A ``color_temp`` outside the lamp's kelvin range whose
reciprocal lies inside it can only be mireds (lamp ranges lie far above 1000 K, mired values
below 1000), so it is converted; any other value goes to the registry, which refuses it with
the range in the answer.

A device gets a light entity when it has a ``switch`` capability and at least one capability
whose Home Assistant component is ``light``; the first instance of each takes part, further
instances get entities of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bridge.core.errors import UnknownProperty, WrongType
from bridge.core.registry import SetProperties
from bridge.core.thing import Capability, Thing
from bridge.mqtt.payloads import CapabilityFilter

ColourMode = Literal["hs", "color_temp"]

# Models whose canonical properties the light payload carries (models/capabilities/*.toml).
SWITCH, BRIGHTNESS, COLOUR, COLOUR_TEMPERATURE = ("switch", "brightness", "colour",
                                                  "colour_temperature")
_IGNORED_KEYS = ("transition", "effect", "flash")


@dataclass(frozen=True)
class LightParts:
    """Capability keys that make up a device's light entity."""

    switch: str
    brightness: str | None = None
    colour: str | None = None
    colour_temperature: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.switch, self.brightness, self.colour,
                                 self.colour_temperature) if k)

    @property
    def colour_modes(self) -> list[str]:
        modes = [m for m, k in (("hs", self.colour), ("color_temp", self.colour_temperature))
                 if k]
        if modes:
            return modes
        return ["brightness"] if self.brightness else ["onoff"]


def _first(thing: Thing, model_id: str, visible: CapabilityFilter) -> str | None:
    caps = sorted((c for c in thing.capabilities.values()
                   if c.model is not None and c.model.id == model_id and visible(thing, c)),
                  key=lambda c: (len(c.key), c.key))
    return caps[0].key if caps else None


def light_parts(thing: Thing, visible: CapabilityFilter) -> LightParts | None:
    """The light entity of ``thing``, or None when it has none."""
    switch = _first(thing, SWITCH, visible)
    if switch is None:
        return None
    parts = LightParts(switch, _first(thing, BRIGHTNESS, visible), _first(thing, COLOUR, visible),
                       _first(thing, COLOUR_TEMPERATURE, visible))
    return parts if len(parts.keys) > 1 else None


def _state(thing: Thing, key: str | None) -> Mapping[str, Any]:
    cap: Capability | None = thing.capabilities.get(key) if key else None
    return cap.state if cap is not None else {}


def light_state(thing: Thing, parts: LightParts, mode: ColourMode | None) -> dict[str, Any]:
    """The Home Assistant JSON light state; ``mode`` is the colour mode last used, if known."""
    doc: dict[str, Any] = {"state": "ON" if _state(thing, parts.switch).get("on") else "OFF"}
    level = _state(thing, parts.brightness).get("brightness")
    if level is not None:
        doc["brightness"] = level
    colour = _state(thing, parts.colour)
    kelvin = _state(thing, parts.colour_temperature).get("colour_temperature")
    use_hs = parts.colour is not None and (mode != "color_temp" or kelvin is None)
    if use_hs:
        doc["color_mode"] = "hs"
        if "hue" in colour and "saturation" in colour:
            doc["color"] = {"h": colour["hue"], "s": colour["saturation"]}
    elif parts.colour_temperature is not None:
        doc["color_mode"] = "color_temp"
        if kelvin is not None:
            doc["color_temp"] = kelvin
    else:
        doc["color_mode"] = parts.colour_modes[0]
    return doc


def light_commands(thing: Thing, parts: LightParts,
                   payload: Mapping[str, Any]) -> list[SetProperties]:
    """The property writes a Home Assistant light command asks for (unchecked values).

    Raises :class:`UnknownProperty` or :class:`WrongType` for keys or shapes the light does
    not have; the registry checks the values themselves.
    """
    commands: list[SetProperties] = []
    unknown = set(payload) - {"state", "brightness", "color", "color_temp", "color_mode",
                              *_IGNORED_KEYS}
    if unknown:
        raise UnknownProperty(f"the light has no {sorted(unknown)[0]!r}")
    state = payload.get("state")
    if state is not None:
        if state not in ("ON", "OFF"):
            raise WrongType(f"state must be \"ON\" or \"OFF\", got {state!r}", prop="state")
        commands.append(SetProperties(parts.switch, {"on": state == "ON"}))
        if state == "OFF":
            return commands
    for name, key in (("brightness", parts.brightness), ("color", parts.colour),
                      ("color_temp", parts.colour_temperature)):
        if name not in payload:
            continue
        if key is None:
            raise UnknownProperty(f"the light has no {name!r}")
        value = payload[name]
        if name == "color":
            if not isinstance(value, Mapping) or not {"h", "s"} <= set(value):
                raise WrongType(f"color must be {{\"h\": ..., \"s\": ...}}, got {value!r}",
                                prop="color")
            commands.append(SetProperties(key, {"hue": value["h"],
                                                "saturation": _whole(value["s"])}))
        elif name == "color_temp":
            commands.append(SetProperties(key, {
                "colour_temperature": _kelvin(thing.capabilities[key], _whole(value))}))
        else:
            commands.append(SetProperties(key, {"brightness": _whole(value)}))
    return commands


_MIRED_LIMIT = 1000


def _kelvin(cap: Capability, value: Any) -> Any:
    """``value`` in kelvin: converted from mireds when it can only be mireds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return value
    spec = cap.spec("colour_temperature")
    low = spec.minimum if spec is not None else None
    high = spec.maximum if spec is not None else None
    kelvin = round(1_000_000 / value)
    if low is None or high is None:
        return kelvin if value < _MIRED_LIMIT else value
    if not low <= value <= high and low <= kelvin <= high:
        return kelvin
    return value


def _whole(value: Any) -> Any:
    # Home Assistant scales brightness and saturation to floats; the models take integers.
    if isinstance(value, float) and not isinstance(value, bool):
        return round(value)
    return value
