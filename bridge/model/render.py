"""Human and machine renderings of the catalogue: JSON, a plain table, docs/models.md.

Layer: ``bridge.model``. Pure functions returning data or text; only ``main`` (run as
``python -m bridge.model.render``) writes to stdout or to the file given with ``--output``.
The daemon's ``ocfaj models [--json|--markdown]`` calls the same functions.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from bridge.model import load_catalogue
from bridge.model.types import (
    AllJoynInterfaceBinding,
    CapabilityModel,
    Catalogue,
    Transform,
    ValueBinding,
)

REGENERATE = "python -m bridge.model.render --markdown --output docs/models.md"


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name))
                for f in dataclasses.fields(value) if not f.name.startswith("_")}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


def catalogue_to_json(cat: Catalogue) -> dict[str, Any]:
    """Every field of every capability and device type, as JSON-compatible data.

    Pairs (``value_map``, ``sets``, ``constants``, ``in_args``) become arrays of arrays, since
    their first elements are not always strings.
    """
    data: dict[str, Any] = _jsonable(cat)
    return data


def _num(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ocf_spelling(cap: CapabilityModel) -> str:
    return f"{cap.ocf.resource_type} ({cap.ocf.default_interface})"


def _short(interface: str) -> str:
    return interface.removeprefix("org.alljoyn.SmartSpaces.")


def catalogue_table(cat: Catalogue) -> str:
    """One line per capability (id, OCF resource type, AllJoyn interfaces, HA component), then
    one per device type model (id, OCF device type, required and optional capabilities)."""
    header = ("capability", "OCF resource type (default interface)", "AllJoyn interfaces",
              "Home Assistant")
    rows = [header] + [
        (cap.id, _ocf_spelling(cap), ", ".join(_short(i.name) for i in cap.alljoyn.interfaces),
         ", ".join(e.component for e in cap.mqtt.entities))
        for cap in cat.capabilities
    ]
    devices = [("device model", "OCF device type", "required", "optional")] + [
        (dev.id, dev.ocf_device_type, ", ".join(dev.required) or "-",
         ", ".join(dev.optional) or "-")
        for dev in cat.device_types
    ]
    return _columns(rows) + "\n" + _columns(devices)


def _columns(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def describe_transform(side_name: str, binding: ValueBinding) -> str:
    """How a side property relates to the canonical value, for the mapping tables."""
    name = f"`{side_name}`"
    if binding.transform is Transform.SCALE:
        return f"{name} = canonical * {_num(binding.scale)}"
    if binding.transform is Transform.RECIPROCAL:
        return f"{name} = {_num(binding.scale)} / canonical"
    if binding.transform is Transform.TEMPERATURE_UNITS:
        return f"{name} in the unit given by `{binding.units_property}` (C, F or K)"
    if binding.transform is Transform.MAP:
        pairs = ", ".join(f"{json.dumps(side)} → {json.dumps(canon)}"
                          for side, canon in binding.value_map)
        return f"{name} mapped: {pairs}"
    return name


def _range(cap: CapabilityModel, name: str) -> str:
    spec = cap.property(name)
    assert spec is not None
    if spec.type == "enum":
        return ", ".join(spec.values)
    parts = []
    if spec.minimum is not None or spec.maximum is not None:
        low = "" if spec.minimum is None else _num(spec.minimum)
        high = "" if spec.maximum is None else _num(spec.maximum)
        parts.append(f"{low}..{high}")
    if spec.step is not None:
        parts.append(f"step {_num(spec.step)}")
    if spec.precision is not None:
        parts.append(f"precision {_num(spec.precision)}")
    if spec.unit:
        parts.append(spec.unit)
    return " ".join(parts) or "—"


def _alljoyn_carriers(cap: CapabilityModel, name: str) -> list[str]:
    found = []
    for iface in cap.alljoyn.interfaces:
        for prop in iface.properties:
            if prop.value is not None and prop.value.canonical == name:
                text = describe_transform(prop.name, prop.value)
                found.append(f"{_short(iface.name)}: {text} ({prop.signature}, {prop.access})")
            if prop.bound is not None and prop.bound[0] == name:
                which = {"min": "min of range", "max": "max of range"}.get(prop.bound[1],
                                                                         prop.bound[1])
                found.append(f"{_short(iface.name)}: `{prop.name}` = {which} "
                             f"({prop.signature}, {prop.access})")
        for method in iface.methods:
            for prop_name, value in method.sets:
                if prop_name == name:
                    found.append(f"{_short(iface.name)}: `{method.name}()` sets "
                                 f"{json.dumps(value)}")
            for arg, sig, prop_name in method.in_args:
                if prop_name == name:
                    found.append(f"{_short(iface.name)}: `{method.name}({arg} {sig})`")
    return found


def _constants(iface: AllJoynInterfaceBinding) -> list[str]:
    return [f"`{p.name}` = {json.dumps(p.const)} ({p.signature})"
            for p in iface.properties if p.value is None and p.bound is None]


def _capability_section(cap: CapabilityModel) -> list[str]:
    lines = [f"### {cap.title} (`{cap.id}`)", "", cap.description, "",
             f"Source: `models/{cap.source_file}`. OCF `{cap.ocf.resource_type}`, interfaces "
             f"{', '.join(f'`{i}`' for i in cap.ocf.interfaces)} (default "
             f"`{cap.ocf.default_interface}`), {'' if cap.ocf.observable else 'not '}observable.",
             "", "| canonical | type | access | range | OCF | AllJoyn |",
             "|---|---|---|---|---|---|"]
    for spec in cap.properties:
        ocf = cap.ocf.property_for(spec.name)
        ocf_text = describe_transform(ocf.name, ocf.value) if ocf else "—"
        aj_text = "<br>".join(_alljoyn_carriers(cap, spec.name)) or "—"
        lines.append(f"| `{spec.name}` | {spec.type} | {spec.access} | {_range(cap, spec.name)} "
                     f"| {ocf_text} | {aj_text} |")
    lines.append("")
    if cap.ocf.constants:
        consts = ", ".join(f"`{k}` = {json.dumps(v)}" for k, v in cap.ocf.constants)
        lines += [f"OCF constants: {consts}.", ""]
    for iface in cap.alljoyn.interfaces:
        aj_consts = _constants(iface)
        if aj_consts:
            lines += [f"AllJoyn constants of {_short(iface.name)}: {', '.join(aj_consts)}.", ""]
        for method in iface.methods:
            if method.unavailable:
                lines += [f"AllJoyn `{_short(iface.name)}.{method.name}()` answers "
                          f"`org.alljoyn.Error.FeatureNotAvailable`: {method.unavailable}", ""]
    entities = "; ".join(
        f"`{e.component}` for `{e.state_property}`"
        + "".join(f", {label} `{val}`" for label, val in
                  (("device class", e.device_class), ("unit", e.unit),
                   ("state class", e.state_class)) if val)
        for e in cap.mqtt.entities)
    lines += [f"Home Assistant: {entities}.", ""]
    return lines


_INTRO = """\
# Shared data models

The gateway translates OCF resources, AllJoyn interfaces and MQTT / Home Assistant entities
through one shared model per capability: each capability has *canonical* properties with a type,
access and range, and one binding per side that says which OCF property or AllJoyn member carries
each canonical property and how the value is transformed on the way. The files live in
`models/capabilities/` and `models/devices/`; they are validated when the gateway starts, and a
broken file stops it with a message naming the file, the key path (list indexes count from 0,
as in `alljoyn.interfaces[0].properties.IsOn.signature`) and what was expected.
Resources and interfaces that no model covers still cross through the generic mapping.

This page is generated from the model files; do not edit it by hand. Regenerate it with
`{regenerate}`.

## Writing model files

- A numeric property's `minimum`, `maximum`, `step` and `precision` are defaults: a device that
  declares its own (an OCF resource's `range`, `step`, `precision`, in its `units`) is bridged
  with those, field by field, and the model's value applies only where the device says
  nothing. The range tables below show the defaults.
- Transforms: `identity` (the default); `scale` (side = canonical * `scale`, integers rounded);
  `reciprocal` (side = `scale` / canonical, for mired ↔ kelvin); `map` (a table of side value →
  canonical value); `temperature_units` (OCF only: a temperature in the unit named by the
  sibling property `units_property`, canonical is degrees Celsius).
- Map keys are always TOML strings. A key that reads as a JSON boolean or number stands for that
  value (`"true"` is the boolean true, `"3"` the integer 3, `"0.5"` the number 0.5); a key
  written as a JSON string literal stands for that string (`'"3"'` is the string "3"); every
  other key is the string itself (`Locked`). On the AllJoyn side each key must fit the D-Bus
  signature.
- AllJoyn properties carry a canonical property, a `const`, or a `bound` (the `min` or `max`
  of a canonical property's range, its `step` or its `precision`). A bound reports the device's
  own limit where the device declares one (an OCF resource's `range`, `step`, `precision`), the
  model's otherwise; a `step` or `precision` bound with no limit anywhere reads 0. Do not list
  the `Version` property: the producer adds it from `version`.
- A capability's first AllJoyn interface is its primary one: its presence selects the capability.
- Two capabilities may share an OCF resource type only with different default interfaces
  (`oic.r.temperature` behind `oic.if.s` is a measurement, behind `oic.if.a` a set point). A
  resource offering both interfaces is read as a sensor and written as an actuator: it becomes
  both capabilities, on the same href.
"""


def mapping_markdown(cat: Catalogue) -> str:
    """The whole of docs/models.md."""
    lines = [_INTRO.format(regenerate=REGENERATE), "## Capabilities", "",
             "| capability | OCF resource type (default interface) | AllJoyn interfaces "
             "| Home Assistant |", "|---|---|---|---|"]
    for cap in cat.capabilities:
        ifaces = "<br>".join(f"`{i.name}`" + (" *" if i.project_defined else "")
                             for i in cap.alljoyn.interfaces)
        entities = ", ".join(f"{e.component}" + (f" ({e.device_class})" if e.device_class
                                                  else "") for e in cap.mqtt.entities)
        lines.append(f"| `{cap.id}` | `{cap.ocf.resource_type}` (`{cap.ocf.default_interface}`) "
                     f"| {ifaces} | {entities} |")
    lines += ["", "\\* defined by this project (see below).", "", "## Property mappings", ""]
    for cap in cat.capabilities:
        lines += _capability_section(cap)
    lines += ["## Device types", "", "| device type | OCF device type | required | optional |",
              "|---|---|---|---|"]
    for dev in cat.device_types:
        required = ", ".join(f"`{c}`" for c in dev.required) or "—"
        optional = ", ".join(f"`{c}`" for c in dev.optional) or "—"
        lines.append(f"| {dev.title} (`{dev.id}`) | `{dev.ocf_device_type}` | {required} "
                     f"| {optional} |")
    lines += ["", "## Project-defined AllJoyn interfaces", "",
              "AllJoyn Smart Spaces has no standard interface for these capabilities, so this "
              "project defines one in the same naming style, in its own namespace `org.ocfaj` "
              "(`org.alljoyn.SmartSpaces` is reserved for the published definitions). Other "
              "AllJoyn software does not know them; they are marked `project_defined` in the "
              "model files.", ""]
    for cap in cat.capabilities:
        for iface in cap.alljoyn.interfaces:
            if iface.project_defined:
                members = ", ".join(f"`{p.name} {p.signature}` ({p.access})"
                                    for p in iface.properties)
                lines.append(f"- `{iface.name}` version {iface.version} (capability "
                             f"`{cap.id}`): {members}.")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge.model.render",
                                     description="Render the shared data models.")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="the full catalogue as JSON")
    form.add_argument("--markdown", action="store_true", help="the text of docs/models.md")
    parser.add_argument("--models", type=Path, help="models directory (default: shipped)")
    parser.add_argument("--output", type=Path, help="write to this file instead of stdout")
    args = parser.parse_args(argv)
    cat = load_catalogue(args.models)
    if args.json:
        text = json.dumps(catalogue_to_json(cat), indent=2, ensure_ascii=False) + "\n"
    elif args.markdown:
        text = mapping_markdown(cat)
    else:
        text = catalogue_table(cat)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
