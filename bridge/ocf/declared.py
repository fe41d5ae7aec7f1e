"""The limits an OCF resource declares: ``range``, ``step`` and ``precision``, both ways.

Layer: ``bridge.ocf``, pure: no socket, no asyncio, no aiocoap. OCF resources may state these
common properties next to their value (``{"temperature": 21.0, "units": "C", "range": [0, 100],
"step": 0.5, "precision": 0.1}``). They describe the resource's numeric value
(``bridge.core.limits.ranged_property``) in the unit the resource reports (``units``), so they
are converted to canonical units here, as the value is. :func:`declared_limits` reads them from
a device; :func:`declared_properties` writes them for a resource this process serves.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import Any

from bridge.core.errors import CommandError
from bridge.core.limits import PropertyLimits, limited, ranged_property
from bridge.core.values import celsius_from, celsius_to, from_side, to_side
from bridge.model.types import CapabilityModel, PropertySpec, Transform, Value, ValueBinding

log = logging.getLogger("ocfaj.ocf")

RANGE, STEP, PRECISION = "range", "step", "precision"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _binding(model: CapabilityModel, spec: PropertySpec) -> ValueBinding:
    binding = model.ocf.property_for(spec.name)
    assert binding is not None  # ranged_property only returns OCF-bound properties
    return binding.value


def _unit(binding: ValueBinding, side_props: Mapping[str, Any]) -> str:
    unit = side_props.get(binding.units_property or "")
    return unit if isinstance(unit, str) and unit in ("C", "F", "K") else "C"


def _delta_to_canonical(binding: ValueBinding, side: float,
                        side_props: Mapping[str, Any]) -> float | None:
    """A difference of side values (a step, a precision) in canonical units; None when the
    transform is not linear (a map, a reciprocal) and a difference means nothing."""
    if binding.transform is Transform.IDENTITY:
        return side
    if binding.transform is Transform.SCALE:
        return side / binding.scale
    if binding.transform is Transform.TEMPERATURE_UNITS:
        return round(celsius_from(_unit(binding, side_props), side)
                     - celsius_from(_unit(binding, side_props), 0.0), 6)
    return None


def _delta_to_side(binding: ValueBinding, canonical: float,
                   side_props: Mapping[str, Any]) -> float | None:
    if binding.transform is Transform.IDENTITY:
        return canonical
    if binding.transform is Transform.SCALE:
        return canonical * binding.scale
    if binding.transform is Transform.TEMPERATURE_UNITS:
        unit = _unit(binding, side_props)
        return round(celsius_to(unit, canonical) - celsius_to(unit, 0.0), 6)
    return None


def declared_limits(model: CapabilityModel, props: Mapping[str, Any],
                    where: str = "") -> dict[str, PropertyLimits]:
    """The limits a representation ``props`` of ``model``'s resource declares, canonical.

    Malformed declarations (a range that is not two ordered numbers, a step <= 0, a negative
    precision) are logged and left out: the model's default applies for them.
    """
    spec = ranged_property(model)
    if spec is None or not any(key in props for key in (RANGE, STEP, PRECISION)):
        return {}
    binding = _binding(model, spec)
    number_spec = dataclasses.replace(spec, type="number")
    label = where or model.ocf.resource_type
    found: dict[str, float | None] = {}
    raw = props.get(RANGE)
    if raw is not None:
        ends = [e for e in map(_number, raw) if e is not None] \
            if isinstance(raw, list | tuple) and len(raw) == 2 else []
        if len(ends) != 2 or ends[0] > ends[1]:
            log.warning("OCF resource %s: range %r is not [low, high]; the model's range "
                        "applies", label, raw)
        else:
            try:
                low, high = sorted(float(from_side(binding, end, number_spec, side_props=props))
                                   for end in ends)
                found.update(minimum=low, maximum=high)
            except CommandError:
                log.warning("OCF resource %s: range %r has no canonical value; the model's "
                            "range applies", label, raw)
    for key, least, allow_zero in ((STEP, "> 0", False), (PRECISION, ">= 0", True)):
        if key not in props:
            continue
        value = _number(props[key])
        if value is None or value < 0 or (value == 0 and not allow_zero):
            log.warning("OCF resource %s: %s %r is not a number %s; the model's applies",
                        label, key, props[key], least)
            continue
        found[key] = _delta_to_canonical(binding, value, props)
    limits = PropertyLimits(**{k: v for k, v in found.items() if v is not None})
    return {} if limits.empty else {spec.name: limits}


def declared_properties(model: CapabilityModel, limits: Mapping[str, PropertyLimits],
                        side_props: Mapping[str, Value]) -> dict[str, Value]:
    """``range``/``step``/``precision`` of a served resource whose device declares ``limits``
    (canonical), in the side's unit (``side_props`` gives ``units``). Only what is declared
    is written; a range needs both ends (the model's fills a missing one)."""
    spec = ranged_property(model)
    declared = limits.get(spec.name) if spec is not None else None
    if spec is None or declared is None or declared.empty:
        return {}
    binding = _binding(model, spec)
    effective = limited(spec, declared)
    props: dict[str, Value] = {}
    if (declared.minimum is not None or declared.maximum is not None) \
            and effective.minimum is not None and effective.maximum is not None:
        integer = spec.type == "integer"
        try:
            props[RANGE] = sorted(to_side(binding, end, integer=integer, side_props=side_props)
                                  for end in (effective.minimum, effective.maximum))
        except CommandError:
            pass
    for key, value in ((STEP, declared.step), (PRECISION, declared.precision)):
        side = None if value is None else _delta_to_side(binding, value, side_props)
        if side is not None:
            props[key] = side
    return props
