"""Limits a device declares for its own values, over the model's defaults.

Layer: ``bridge.core`` (pure). A model gives each numeric property a default range and step
(``models/capabilities/*.toml``); a device may say what it really accepts (OCF ``range``,
``step`` and ``precision`` of a resource). What the device says wins, property by property and
field by field; the model's value applies only where the device says nothing. Limits are kept
in canonical units (the origin adapter converts them from the device's own unit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.model.types import CapabilityModel, PropertySpec

NUMERIC = ("integer", "number")


@dataclass(frozen=True)
class PropertyLimits:
    """What a device declares for one canonical property; None: the device said nothing.

    ``precision`` is how finely the device resolves the value (OCF ``precision``, AllJoyn
    ``Precision``), ``step`` the increment it accepts (OCF ``step``, AllJoyn ``StepValue``).
    """

    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    precision: float | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))


def limited(spec: PropertySpec, limits: PropertyLimits | None) -> PropertySpec:
    """``spec`` with every field the device declared replaced by the device's value."""
    if limits is None or limits.empty or spec.type not in NUMERIC:
        return spec
    declared = {f.name: getattr(limits, f.name) for f in dataclasses.fields(limits)
                if getattr(limits, f.name) is not None}
    return dataclasses.replace(spec, **declared)


def effective_spec(model: CapabilityModel, name: str,
                   limits: Mapping[str, PropertyLimits] | None = None) -> PropertySpec | None:
    """The canonical property ``name`` of ``model`` as this device has it (None: no such)."""
    spec = model.property(name)
    if spec is None:
        return None
    return limited(spec, (limits or {}).get(name))


def ranged_property(model: CapabilityModel) -> PropertySpec | None:
    """The property a resource-wide ``range``/``step``/``precision`` describes.

    OCF states these once per resource; they describe its numeric value. A model whose OCF
    resource carries exactly one numeric property has that one; a model with several (a colour
    with hue and saturation) has none, and such declarations are not applied.
    """
    numeric = [spec for binding in model.ocf.properties
               if (spec := model.property(binding.value.canonical)) is not None
               and spec.type in NUMERIC]
    return numeric[0] if len(numeric) == 1 else None
