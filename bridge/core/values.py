"""Value checks and translation between canonical values and each side's values.

Layer: ``bridge.core`` (pure). Every value that enters from outside goes through
:func:`check_value` before it can reach a device; every value crossing a binding goes through
:func:`to_side` / :func:`from_side`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bridge.core.errors import OutOfRange, ReadOnly, UnknownProperty, WrongType
from bridge.core.limits import PropertyLimits, effective_spec
from bridge.model.types import (
    CapabilityModel,
    PropertySpec,
    Transform,
    Value,
    ValueBinding,
)

_TYPE_WORDS = {"boolean": "a boolean", "integer": "an integer", "number": "a number",
               "string": "a string", "enum": "one of the allowed strings"}


def describe_range(spec: PropertySpec) -> str:
    if spec.type == "enum":
        return "one of " + ", ".join(repr(v) for v in spec.values)
    low = "-inf" if spec.minimum is None else _fmt(spec.minimum)
    high = "+inf" if spec.maximum is None else _fmt(spec.maximum)
    unit = f" {spec.unit}" if spec.unit else ""
    return f"{low}..{high}{unit}"


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def check_value(spec: PropertySpec, value: Value) -> Value:
    """Return ``value`` normalised for ``spec`` or raise a typed error naming the property."""
    name = spec.name
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise WrongType(f"{name} must be {_TYPE_WORDS['boolean']}, got {value!r}", prop=name)
        return value
    if spec.type in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WrongType(f"{name} must be {_TYPE_WORDS[spec.type]}, got {value!r}", prop=name)
        if isinstance(value, float) and not math.isfinite(value):
            raise WrongType(f"{name} must be a finite number, got {value!r}", prop=name)
        if spec.type == "integer":
            if isinstance(value, float) and not value.is_integer():
                raise WrongType(f"{name} must be an integer, got {value!r}", prop=name)
            value = int(value)
        else:
            value = float(value)
        if (spec.minimum is not None and value < spec.minimum) or (
            spec.maximum is not None and value > spec.maximum
        ):
            raise OutOfRange(f"{name} = {value!r} is out of range {describe_range(spec)}",
                             prop=name)
        return value
    if not isinstance(value, str):
        raise WrongType(f"{name} must be {_TYPE_WORDS[spec.type]}, got {value!r}", prop=name)
    if spec.type == "enum" and value not in spec.values:
        raise OutOfRange(f"{name} = {value!r} is not {describe_range(spec)}", prop=name)
    return value


def check_write(model: CapabilityModel, values: Mapping[str, Value],
                limits: Mapping[str, PropertyLimits] | None = None) -> dict[str, Value]:
    """Validate a write of canonical ``values`` to a capability of ``model``.

    Ranges are the device's own where it declared ``limits``, the model's otherwise.
    """
    if not values:
        raise UnknownProperty(f"empty write to {model.id}: name at least one property")
    checked: dict[str, Value] = {}
    for name, value in values.items():
        spec = effective_spec(model, name, limits)
        if spec is None:
            known = ", ".join(p.name for p in model.properties)
            raise UnknownProperty(f"{model.id} has no property {name!r} (known: {known})",
                                  prop=name)
        if not spec.writable:
            raise ReadOnly(f"{model.id}.{name} is read-only", prop=name)
        checked[name] = check_value(spec, value)
    return checked


# Temperature units as OCF spells them, to and from degrees Celsius.
def celsius_to(unit: str, celsius: float) -> float:
    if unit == "F":
        return celsius * 9.0 / 5.0 + 32.0
    if unit == "K":
        return celsius + 273.15
    return celsius


def celsius_from(unit: str, value: float) -> float:
    if unit == "F":
        return (value - 32.0) * 5.0 / 9.0
    if unit == "K":
        return value - 273.15
    return value


def to_side(binding: ValueBinding, canonical: Value, *, integer: bool = False,
            side_props: Mapping[str, Any] | None = None) -> Value:
    """The side's value for a canonical value.

    ``integer`` says the side carries an integer type (rounded after scaling); ``side_props``
    are the side's current properties (for the unit of a temperature).
    """
    if binding.transform is Transform.SCALE:
        scaled = float(canonical) * binding.scale
        return round(scaled) if integer else scaled
    if binding.transform is Transform.RECIPROCAL:
        if isinstance(canonical, bool) or not isinstance(canonical, int | float) or not canonical:
            raise OutOfRange(f"{binding.canonical} = {canonical!r} has no reciprocal",
                             prop=binding.canonical)
        inverse = binding.scale / float(canonical)
        return round(inverse) if integer else inverse
    if binding.transform is Transform.MAP:
        for side_value, canon in binding.value_map:
            if canon == canonical:
                return side_value
        raise OutOfRange(f"{binding.canonical} = {canonical!r} has no mapping on this side",
                         prop=binding.canonical)
    if binding.transform is Transform.TEMPERATURE_UNITS:
        unit = _unit(binding, side_props)
        converted = celsius_to(unit, float(canonical))
        return round(converted) if integer else round(converted, 6)
    if integer and isinstance(canonical, float):
        return round(canonical)
    return canonical


def from_side(binding: ValueBinding, side_value: Value, spec: PropertySpec, *,
              side_props: Mapping[str, Any] | None = None) -> Value:
    """The canonical value for a side's value (checked against ``spec``'s type, not range)."""
    value: Value = side_value
    if binding.transform is Transform.SCALE:
        if isinstance(side_value, bool) or not isinstance(side_value, int | float):
            raise WrongType(f"{spec.name} must be a number, got {side_value!r}", prop=spec.name)
        value = float(side_value) / binding.scale
    elif binding.transform is Transform.RECIPROCAL:
        if isinstance(side_value, bool) or not isinstance(side_value, int | float) \
                or not side_value:
            raise WrongType(f"{spec.name} must be a non-zero number, got {side_value!r}",
                            prop=spec.name)
        value = binding.scale / float(side_value)
    elif binding.transform is Transform.MAP:
        for side, canon in binding.value_map:
            if side == side_value:
                value = canon
                break
        else:
            allowed = ", ".join(repr(s) for s, _ in binding.value_map)
            raise OutOfRange(f"{spec.name}: {side_value!r} is not one of {allowed}",
                             prop=spec.name)
    elif binding.transform is Transform.TEMPERATURE_UNITS:
        if isinstance(side_value, bool) or not isinstance(side_value, int | float):
            raise WrongType(f"{spec.name} must be a number, got {side_value!r}", prop=spec.name)
        value = round(celsius_from(_unit(binding, side_props), float(side_value)), 6)
    if spec.type == "integer" and isinstance(value, float) and math.isfinite(value):
        value = round(value)
    if spec.type == "number" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value


def from_side_keeping(binding: ValueBinding, side_value: Value, spec: PropertySpec,
                      current: Mapping[str, Value], *,
                      side_props: Mapping[str, Any] | None = None) -> Value:
    """:func:`from_side`, but the value in ``current`` (canonical, by property name) is kept
    when this side spells it ``side_value`` too.

    A reciprocal or a rounding maps several canonical values to one side value: 3000 K is 333
    mired, and 333 mired is 3003 K. When a user set 3000 K and the device reports 333 back,
    the state stays 3000 K; a side value that ``current`` does not give is converted as usual.
    """
    value = from_side(binding, side_value, spec, side_props=side_props)
    held = current.get(spec.name)
    if held is None or held == value or isinstance(held, bool) \
            or not isinstance(held, int | float) or isinstance(side_value, bool):
        return value
    try:
        spelled = to_side(binding, held, integer=isinstance(side_value, int),
                          side_props=side_props)
    except (OutOfRange, WrongType):
        return value
    return held if spelled == side_value else value


def _unit(binding: ValueBinding, side_props: Mapping[str, Any] | None) -> str:
    if binding.units_property and side_props:
        unit = side_props.get(binding.units_property)
        if unit in ("C", "F", "K"):
            return str(unit)
    return "C"


# D-Bus signature checks for generic capabilities (no model gives a range there).
_INT_RANGES = {
    "y": (0, 2**8 - 1), "n": (-(2**15), 2**15 - 1), "q": (0, 2**16 - 1),
    "i": (-(2**31), 2**31 - 1), "u": (0, 2**32 - 1), "x": (-(2**63), 2**63 - 1),
    "t": (0, 2**64 - 1),
}


def check_signature_value(name: str, signature: str, value: Value) -> Value:
    """Check a value against a basic D-Bus signature; container types are checked shallowly.

    64-bit integers may arrive as decimal strings (JSON cannot carry them beyond 2^53).
    """
    if signature == "b":
        if not isinstance(value, bool):
            raise WrongType(f"{name} must be a boolean, got {value!r}", prop=name)
        return value
    if signature in _INT_RANGES:
        if signature in "xt" and isinstance(value, str):
            try:
                value = int(value, 10)
            except ValueError:
                raise WrongType(f"{name} must be an integer, got {value!r}", prop=name) from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise WrongType(f"{name} must be an integer, got {value!r}", prop=name)
        low, high = _INT_RANGES[signature]
        if not low <= value <= high:
            raise OutOfRange(f"{name} = {value} is out of range {low}..{high}", prop=name)
        return value
    if signature == "d":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WrongType(f"{name} must be a number, got {value!r}", prop=name)
        return float(value)
    if signature in ("s", "o", "g"):
        if not isinstance(value, str):
            raise WrongType(f"{name} must be a string, got {value!r}", prop=name)
        return value
    if signature == "ay":
        if not isinstance(value, bytes | bytearray):
            raise WrongType(f"{name} must be a byte string, got {value!r}", prop=name)
        return bytes(value)
    if signature.startswith("a{"):
        if not isinstance(value, dict):
            raise WrongType(f"{name} must be an object, got {value!r}", prop=name)
        return value
    if signature.startswith("a"):
        if not isinstance(value, list | tuple):
            raise WrongType(f"{name} must be an array, got {value!r}", prop=name)
        return list(value)
    if signature.startswith("("):
        if not isinstance(value, dict | list | tuple):
            raise WrongType(f"{name} must be an object or array, got {value!r}", prop=name)
        return value
    return value
