"""Device command payloads (``<base>/<name>/set`` and ``/get``) turned into registry commands.

Layer: ``bridge.mqtt`` (pure). ``/set`` takes the state shape, partially:
``{"<capability key>": {"<property>": value}}``; for a generic capability a key that names a
method calls it with the object as its arguments (``{"widget": {"Reset": {"delay": 5}}}``).
Only the shape is checked here; the registry checks names, types, ranges and access against the
model before anything reaches a device.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from itertools import accumulate, repeat
from typing import Any

from bridge.core.errors import UnknownCapability, UnknownProperty, WrongType
from bridge.core.registry import Command, InvokeMethod, SetProperties
from bridge.core.thing import Capability, GenericSpec, Thing
from bridge.model.types import Value

#: Deepest nesting of arrays and objects a payload may have (as for CBOR on the OCF side):
#: far more than any command needs, and far less than Python's parser can take.
MAX_DEPTH = 32
# A JSON string, escapes included: brackets inside strings do not nest anything.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")
#: an opening bracket becomes 2, a closing one 0: minus one, each is the change of depth.
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def depth(payload: bytes) -> int:
    """How deep arrays and objects nest in the JSON text ``payload``."""
    steps = _STRING.sub(b"", payload).translate(_STEPS, _NOT_BRACKETS)
    return max(accumulate(map(int.__sub__, steps, repeat(1))), default=0)


def decode(payload: bytes) -> Any:
    """The JSON document of a payload; an empty payload is an empty object."""
    if not payload.strip():
        return {}
    # Checked before parsing: the parser recurses once per level and a payload of 100,000
    # brackets would end in RecursionError, with no answer to the client.
    if depth(payload) > MAX_DEPTH:
        raise WrongType(f"the payload nests arrays and objects more than {MAX_DEPTH} deep")
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, ValueError) as err:
        raise WrongType(f"the payload is not JSON: {err}") from None


def set_commands(thing: Thing, document: Any) -> list[Command]:
    """The commands a ``/set`` document asks for, one per capability, in document order."""
    if not isinstance(document, Mapping) or not document:
        raise WrongType('a /set payload is an object such as {"switch": {"on": true}}, got '
                        f"{json.dumps(document)}")
    commands: list[Command] = []
    for key, values in document.items():
        cap = thing.capabilities.get(key)
        if cap is None:
            known = ", ".join(thing.capabilities) or "none"
            raise UnknownCapability(f"{thing.info.name} has no capability {key!r} (known: "
                                    f"{known})", thing=thing.id, capability=key)
        if not isinstance(values, Mapping) or not values:
            raise WrongType(f"{key}: expected an object of properties, got {json.dumps(values)}",
                            thing=thing.id, capability=key)
        if cap.generic is not None:
            commands += _generic(cap, cap.generic, values)
        else:
            commands.append(SetProperties(key, dict(values)))
    return commands


def _generic(cap: Capability, spec: GenericSpec, values: Mapping[str, Any]) -> list[Command]:
    writes: dict[str, Value] = {}
    calls: list[Command] = []
    for name, value in values.items():
        prop = spec.property(name)
        method = spec.method(name) if prop is None else None
        if method is not None:
            if not isinstance(value, Mapping):
                raise WrongType(f"{cap.key}.{name}: a method call takes an object of "
                                "arguments", capability=cap.key, prop=name)
            sigs = dict(method.in_args)
            calls.append(InvokeMethod(cap.key, name, {a: _bytes(sigs.get(a, ""), v)
                                                      for a, v in value.items()}))
        elif prop is not None:
            writes[name] = _bytes(prop.signature, value)
        else:
            raise UnknownProperty(f"{cap.key} has no property or method {name!r}",
                                  capability=cap.key, prop=name)
    return ([SetProperties(cap.key, writes)] if writes else []) + calls


def _bytes(signature: str, value: Any) -> Any:
    # Byte strings travel as hex in JSON (bridge.mqtt.payloads); anything else is left for
    # the registry's signature check to judge.
    if signature == "ay" and isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            return value
    return value


def get_capabilities(thing: Thing, document: Any) -> list[str]:
    """Capability keys a ``/get`` asks to refresh: all for an empty payload."""
    if document in ({}, [], None, ""):
        return list(thing.capabilities)
    keys = list(document) if isinstance(document, Mapping | list) else [document]
    for key in keys:
        if not isinstance(key, str) or key not in thing.capabilities:
            raise UnknownCapability(f"{thing.info.name} has no capability {key!r}",
                                    thing=thing.id, capability=str(key))
    return keys
