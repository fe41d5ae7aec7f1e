"""Canonical properties and value bindings of one capability file, checked for meaning.

Layer: ``bridge.model``. Pure; no I/O. The input has passed the structural schema
(``bridge.model.schema``); these helpers check what the values mean: enum properties list
values, ranges are ordered, a binding's canonical property exists, its transform is complete and
fits the property type, a D-Bus signature is one complete type that can carry the value, map
values are valid canonical values. Violations raise ``SchemaViolation`` with the key path.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from bridge.model import signature
from bridge.model.schema import SchemaViolation, describe, join
from bridge.model.types import PropertySpec, Transform, Value, ValueBinding

Doc = dict[str, Any]
Props = dict[str, PropertySpec]
_NUMERIC = ("integer", "number")


def parse_side_value(key: str) -> Value:
    """The side value a TOML ``map`` key stands for.

    A key that is a JSON boolean or number (``"true"``, ``"3"``, ``"0.5"``) is that value; a
    JSON string literal (``'"3"'``) is that string; any other key is the string itself.
    """
    try:
        parsed = json.loads(key)
    except ValueError:
        return key
    if isinstance(parsed, bool | int | float | str):
        return parsed
    return key


def canonical_value_error(spec: PropertySpec, value: object) -> str | None:
    """What a valid value of ``spec`` is, when ``value`` is not one; None when it is."""
    if spec.type == "boolean":
        return None if isinstance(value, bool) else f"a valid value of {spec.name} (true or false)"
    if spec.type == "enum":
        if value in spec.values:
            return None
        return f"a valid value of {spec.name} (one of {', '.join(spec.values)})"
    if spec.type == "string":
        return None if isinstance(value, str) else f"a valid value of {spec.name} (a string)"
    expected = "an integer" if spec.type == "integer" else "a number"
    if spec.minimum is not None or spec.maximum is not None:
        low = "" if spec.minimum is None else f"{spec.minimum:g}"
        high = "" if spec.maximum is None else f"{spec.maximum:g}"
        expected += f" in {low}..{high}"
    problem = f"a valid value of {spec.name} ({expected})"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return problem
    if isinstance(value, float) and (not math.isfinite(value)
                                     or (spec.type == "integer" and not value.is_integer())):
        return problem
    if spec.minimum is not None and value < spec.minimum:
        return problem
    if spec.maximum is not None and value > spec.maximum:
        return problem
    return None


def property_spec(name: str, doc: Doc, path: str) -> PropertySpec:
    kind = doc["type"]
    if kind == "enum" and not doc.get("values"):
        raise SchemaViolation(join(path, "values"), "the allowed values of an enum property",
                              "none")
    if kind != "enum" and "values" in doc:
        raise SchemaViolation(join(path, "values"), "no values (only enum properties list them)",
                              "values")
    for key in ("minimum", "maximum", "step", "precision"):
        if key in doc and kind not in _NUMERIC:
            raise SchemaViolation(join(path, key), f"no {key} for a {kind} property", key)
    if "step" in doc and doc["step"] <= 0:
        raise SchemaViolation(join(path, "step"), "a step > 0", describe(doc["step"]))
    if "precision" in doc and doc["precision"] < 0:
        raise SchemaViolation(join(path, "precision"), "a precision >= 0",
                              describe(doc["precision"]))
    low, high = doc.get("minimum"), doc.get("maximum")
    if low is not None and high is not None and low > high:
        raise SchemaViolation(join(path, "maximum"), f"a maximum >= minimum {low}",
                              describe(high))
    return PropertySpec(
        name=name, type=kind, access=doc["access"], description=doc.get("description", ""),
        unit=doc.get("unit"), minimum=low, maximum=high, step=doc.get("step"),
        precision=doc.get("precision"),
        values=tuple(doc.get("values", ())),
    )


def canonical(props: Props, name: str, path: str) -> PropertySpec:
    spec = props.get(name)
    if spec is None:
        known = ", ".join(props)
        raise SchemaViolation(path, f"a canonical property of this capability ({known})",
                              repr(name))
    return spec


def value_binding(doc: Doc, path: str, props: Props, side: Literal["ocf", "alljoyn"],
                   sig: str = "") -> ValueBinding:
    spec = canonical(props, doc["canonical"], join(path, "canonical"))
    transform = Transform(doc.get("transform", "identity"))
    numeric_transforms = (Transform.SCALE, Transform.RECIPROCAL, Transform.TEMPERATURE_UNITS)
    if transform in numeric_transforms and spec.type not in _NUMERIC:
        raise SchemaViolation(join(path, "transform"),
                              f"a transform that fits the {spec.type} property {spec.name}",
                              repr(transform.value))
    scale = 1.0
    if transform in (Transform.SCALE, Transform.RECIPROCAL):
        if "scale" not in doc:
            raise SchemaViolation(join(path, "scale"), f"a scale for transform {transform.value}",
                                  "it missing")
        scale = float(doc["scale"])
        if scale <= 0:
            raise SchemaViolation(join(path, "scale"), "a scale > 0", describe(doc["scale"]))
    elif "scale" in doc:
        raise SchemaViolation(join(path, "scale"), "no scale unless transform is scale or "
                              "reciprocal", describe(doc["scale"]))
    value_map = _value_map(doc, path, spec, transform, sig)
    units = doc.get("units_property")
    if transform is Transform.TEMPERATURE_UNITS:
        if side != "ocf":
            raise SchemaViolation(join(path, "transform"), "identity, scale, map or reciprocal "
                                  "(only OCF carries a units property)", "'temperature_units'")
        if units is None:
            raise SchemaViolation(join(path, "units_property"),
                                  "the property holding the unit (temperature_units)",
                                  "it missing")
    elif units is not None:
        raise SchemaViolation(join(path, "units_property"),
                              "no units_property unless transform is temperature_units",
                              repr(units))
    if sig:
        _check_signature_fits(sig, spec, transform, join(path, "signature"))
    return ValueBinding(canonical=spec.name, transform=transform, scale=scale,
                        value_map=value_map, units_property=units)


def _value_map(doc: Doc, path: str, spec: PropertySpec, transform: Transform,
               sig: str) -> tuple[tuple[Value, Value], ...]:
    if transform is not Transform.MAP:
        if "map" in doc:
            raise SchemaViolation(join(path, "map"), "no map unless transform is map", "a map")
        return ()
    if "map" not in doc:
        raise SchemaViolation(join(path, "map"), "a map of side values to canonical values",
                              "it missing")
    pairs: list[tuple[Value, Value]] = []
    for key, canonical in doc["map"].items():
        key_path = join(join(path, "map"), key)
        problem = canonical_value_error(spec, canonical)
        if problem:
            raise SchemaViolation(key_path, problem, describe(canonical))
        side_value = parse_side_value(key)
        if sig and not signature.value_fits(sig, side_value):
            raise SchemaViolation(key_path, f"a side value that fits signature {sig!r}",
                                  describe(side_value))
        if any(side_value == seen for seen, _ in pairs):
            raise SchemaViolation(key_path, "distinct side values", describe(side_value))
        pairs.append((side_value, canonical))
    return tuple(pairs)


def _check_signature_fits(sig: str, spec: PropertySpec, transform: Transform, path: str) -> None:
    sig_kind = signature.kind(sig)
    if transform is Transform.MAP:
        ok = sig_kind != "other"
    elif transform is Transform.IDENTITY:
        wanted = {"boolean": ("boolean",), "integer": ("integer", "number"),
                  "number": ("number",), "string": ("string",), "enum": ("string",)}
        ok = sig_kind in wanted[spec.type]
    else:
        ok = sig_kind in _NUMERIC
    if not ok:
        raise SchemaViolation(path, f"a signature that carries the {spec.type} property "
                              f"{spec.name} with transform {transform.value}", repr(sig))


def checked_signature(value: str, path: str) -> str:
    problem = signature.single_complete_type_error(value)
    if problem:
        raise SchemaViolation(path, "a D-Bus signature of one complete type",
                              f"{value!r} ({problem})")
    return value

