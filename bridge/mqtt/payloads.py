"""JSON payloads of the gateway's own topics: device state, availability, device list, responses.

Layer: ``bridge.mqtt`` (pure). Shapes (docs/mqtt.md describes them for users):

- state ``<base>/<name>``: ``{"<capability key>": {"<property>": value, ...}, ...}`` for every
  capability, always nested by capability key, so a device with two switches (``switch``,
  ``switch_2``) or a generic capability next to a modelled one is never ambiguous, and the shape
  does not change when a device gains a capability. Model capabilities carry canonical property
  names and values; generic ones the origin's names.
- availability: ``{"state": "online"}`` / ``{"state": "offline"}`` (zigbee2mqtt's shape).
- responses: ``{"status": "ok"|"error", "data": {...}, "error": str|null, "transaction": ...}``.

JSON cannot carry everything a device may: byte strings travel as lowercase hex and integers
beyond +-2^53 as decimal strings (docs/protocol-notes.md, "Type mapping").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from bridge.core.text import encodable
from bridge.core.thing import Capability, Thing
from bridge.model.types import Value

ONLINE = {"state": "online"}
OFFLINE = {"state": "offline"}
_SAFE_INT = 2**53


def json_value(value: Value) -> Any:
    """``value`` as something ``json.dumps`` writes without losing information."""
    if isinstance(value, bool) or value is None or isinstance(value, float | str):
        return value
    if isinstance(value, int):
        return value if -_SAFE_INT <= value <= _SAFE_INT else str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return str(value)


def encode(document: Any) -> bytes:
    """Compact UTF-8 JSON. Never fails on text: a lone surrogate (only an echo of what a client
    sent can hold one, e.g. a ``transaction``) becomes U+FFFD, so the answer still goes out."""
    text = json.dumps(json_value(document), separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return encodable(text).encode()


def availability(available: bool) -> dict[str, str]:
    return dict(ONLINE if available else OFFLINE)


CapabilityFilter = Callable[[Thing, Capability], bool]


def state(thing: Thing, visible: CapabilityFilter) -> dict[str, dict[str, Any]]:
    """The full state document of ``thing`` (capabilities ``visible`` lets through)."""
    return {key: {name: json_value(v) for name, v in cap.state.items()}
            for key, cap in thing.capabilities.items() if visible(thing, cap)}


def capability_entry(cap: Capability) -> dict[str, Any]:
    if cap.model is not None:
        props = {}
        for spec in cap.specs:
            entry: dict[str, Any] = {"type": spec.type, "access": spec.access}
            if spec.unit:
                entry["unit"] = spec.unit
            if spec.minimum is not None:
                entry["minimum"] = spec.minimum
            if spec.maximum is not None:
                entry["maximum"] = spec.maximum
            if spec.values:
                entry["values"] = list(spec.values)
            props[spec.name] = entry
        return {"key": cap.key, "model": cap.model.id, "properties": props}
    assert cap.generic is not None
    generic = cap.generic
    return {
        "key": cap.key, "model": "generic", "interface": generic.interface,
        "properties": {p.name: {"signature": p.signature, "access": p.access}
                       for p in generic.properties},
        "methods": {m.name: {"in": [list(a) for a in m.in_args],
                             "out": [list(a) for a in m.out_args]} for m in generic.methods},
        "signals": {s.name: {"args": [list(a) for a in s.out_args or s.in_args]}
                    for s in generic.signals},
    }


def device_entry(thing: Thing, name: str, visible: CapabilityFilter) -> dict[str, Any]:
    """One device of ``<base>/bridge/devices``."""
    info, ident = thing.info, thing.identity
    return {
        "id": thing.id,
        "friendly_name": name,
        "name": info.name,
        "origin": thing.origin.value,
        "device_type": thing.device_type,
        "available": thing.available,
        "manufacturer": info.manufacturer,
        "model": info.model,
        "sw_version": info.sw_version,
        "identity": {"di": ident.di, "piid": ident.piid, "pi": ident.pi,
                     "device_id": ident.device_id, "app_id": ident.app_id.hex()},
        "capabilities": [capability_entry(cap) for cap in thing.capabilities.values()
                         if visible(thing, cap)],
        "security": dict(thing.security),
    }


def response(data: Mapping[str, Any] | None = None, *, error: str | None = None,
             transaction: Any = None) -> dict[str, Any]:
    return {"status": "error" if error is not None else "ok", "data": dict(data or {}),
            "error": error, "transaction": transaction}
