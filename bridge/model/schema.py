"""The structure of the model files: which keys exist, which are required, what type each has.

Layer: ``bridge.model``. Pure; no I/O. This module checks shape only (a table where a table must
be, a string where a string must be, no unknown keys); the meaning of the values (does a
canonical property exist, is a signature valid) is checked by ``bridge.model.capability`` and
``bridge.model.loader``. A violation raises ``SchemaViolation`` with the key path; the loader
adds the file name and turns it into a ``ModelError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Check = Callable[[object, str], None]

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*\Z")
MEMBER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
INTERFACE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+\Z")
OCF_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")

TRANSFORMS = ("identity", "scale", "map", "temperature_units", "reciprocal")
VALUE_TYPES = ("boolean", "integer", "number", "string", "enum")
EMITS_CHANGED = ("true", "false", "invalidates", "const")
HA_COMPONENTS = (
    "alarm_control_panel", "binary_sensor", "button", "climate", "cover", "fan", "humidifier",
    "light", "lock", "number", "select", "sensor", "switch", "text", "valve",
)


class SchemaViolation(Exception):
    """``path`` does not have the expected shape."""

    def __init__(self, path: str, expected: str, found: str | None) -> None:
        super().__init__(f"{path}: expected {expected}")
        self.path = path
        self.expected = expected
        self.found = found


@dataclass(frozen=True)
class Key:
    check: Check
    required: bool = False


def describe(value: object) -> str:
    """A short description of a found value for error messages."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "nothing"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_table(value: object, path: str, keys: Mapping[str, Key]) -> None:
    if not isinstance(value, dict):
        raise SchemaViolation(path, "a table", describe(value))
    for name in value:
        if name not in keys:
            known = ", ".join(sorted(keys))
            raise SchemaViolation(join(path, str(name)), f"one of the keys {known}",
                                  "an unknown key")
    for name, key in keys.items():
        if name in value:
            key.check(value[name], join(path, name))
        elif key.required:
            raise SchemaViolation(join(path, name), "this required key", "it missing")


def table(keys: Mapping[str, Key]) -> Check:
    def check(value: object, path: str) -> None:
        check_table(value, path, keys)
    return check


def named_tables(keys: Mapping[str, Key], name: re.Pattern[str], what: str,
                 non_empty: bool = True) -> Check:
    """A table whose keys are names (of properties, members...) and whose values are tables."""
    def check(value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise SchemaViolation(path, "a table of named tables", describe(value))
        if non_empty and not value:
            raise SchemaViolation(path, f"at least one {what}", "an empty table")
        for item_name, item in value.items():
            if not name.match(str(item_name)):
                raise SchemaViolation(join(path, str(item_name)), f"a valid {what} name",
                                      repr(item_name))
            check_table(item, join(path, str(item_name)), keys)
    return check


def table_array(keys: Mapping[str, Key]) -> Check:
    def check(value: object, path: str) -> None:
        if not isinstance(value, list) or not value:
            raise SchemaViolation(path, "a non-empty array of tables", describe(value))
        for index, item in enumerate(value):
            check_table(item, f"{path}[{index}]", keys)
    return check


def string(choices: tuple[str, ...] = (), pattern: re.Pattern[str] | None = None,
           what: str = "") -> Check:
    def check(value: object, path: str) -> None:
        if not isinstance(value, str):
            raise SchemaViolation(path, what or "a string", describe(value))
        if choices and value not in choices:
            raise SchemaViolation(path, "one of " + ", ".join(choices), repr(value))
        if pattern is not None and not pattern.match(value):
            raise SchemaViolation(path, what or f"a string matching {pattern.pattern}",
                                  repr(value))
    return check


def boolean(value: object, path: str) -> None:
    if not isinstance(value, bool):
        raise SchemaViolation(path, "true or false", describe(value))


def integer(minimum: int) -> Check:
    def check(value: object, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise SchemaViolation(path, f"an integer >= {minimum}", describe(value))
    return check


_LARGEST = 2.0**64


def is_finite_number(value: object) -> bool:
    """An int or float (not a bool) of magnitude below 2**64, so it converts to a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) if isinstance(value, float) else abs(value) < _LARGEST


def number(value: object, path: str) -> None:
    if not is_finite_number(value):
        raise SchemaViolation(path, "a finite number", describe(value))


def is_scalar(value: object) -> bool:
    """A boolean, string, or number that fits a float or a 64-bit D-Bus integer."""
    return isinstance(value, bool | str) or is_finite_number(value)


def scalar(value: object, path: str) -> None:
    if not is_scalar(value):
        raise SchemaViolation(path, "a boolean, number or string", describe(value))


def json_value(value: object, path: str) -> None:
    """A scalar or an array of scalars (OCF constants such as ``range = [0, 40]``)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            scalar(item, f"{path}[{index}]")
    else:
        scalar(value, path)


def string_list(pattern: re.Pattern[str] | None = None, what: str = "string",
                non_empty: bool = True) -> Check:
    def check(value: object, path: str) -> None:
        if not isinstance(value, list) or (non_empty and not value):
            expected = f"a{' non-empty' if non_empty else 'n'} array of {what}s"
            raise SchemaViolation(path, expected, describe(value))
        item_check = string(pattern=pattern, what=f"a {what}")
        for index, item in enumerate(value):
            item_check(item, f"{path}[{index}]")
        if len(set(value)) != len(value):
            raise SchemaViolation(path, f"distinct {what}s", "a repeated entry")
    return check


def scalar_table(name: re.Pattern[str] | None = None, non_empty: bool = True) -> Check:
    """A table of scalars (``sets = { on = true }``, ``map = { Locked = true }``)."""
    def check(value: object, path: str) -> None:
        if not isinstance(value, dict) or (non_empty and not value):
            raise SchemaViolation(path, "a non-empty table of values", describe(value))
        for key, item in value.items():
            if name is not None and not name.match(str(key)):
                raise SchemaViolation(join(path, str(key)), f"a key matching {name.pattern}",
                                      repr(key))
            scalar(item, join(path, str(key)))
    return check


def fixed_list(*items: Check) -> Check:
    """An array of exactly ``len(items)`` entries, each checked by its own check."""
    def check(value: object, path: str) -> None:
        if not isinstance(value, list) or len(value) != len(items):
            raise SchemaViolation(path, f"an array of {len(items)} entries", describe(value))
        for index, (item, item_check) in enumerate(zip(value, items, strict=True)):
            item_check(item, f"{path}[{index}]")
    return check


def list_of(item_check: Check) -> Check:
    def check(value: object, path: str) -> None:
        if not isinstance(value, list) or not value:
            raise SchemaViolation(path, "a non-empty array", describe(value))
        for index, item in enumerate(value):
            item_check(item, f"{path}[{index}]")
    return check


def constants(value: object, path: str) -> None:
    """OCF constants: property names mapped to JSON-like values."""
    if not isinstance(value, dict):
        raise SchemaViolation(path, "a table of constant values", describe(value))
    for name, item in value.items():
        if not OCF_NAME.match(str(name)):
            raise SchemaViolation(join(path, str(name)), "an OCF property name", repr(name))
        json_value(item, join(path, str(name)))


_TEXT = Key(string())
_OPTIONAL_NUMBER = Key(number)

PROPERTY = {
    "type": Key(string(VALUE_TYPES), required=True),
    "access": Key(string(("r", "rw")), required=True),
    "description": _TEXT,
    "unit": _TEXT,
    "minimum": _OPTIONAL_NUMBER,
    "maximum": _OPTIONAL_NUMBER,
    "step": _OPTIONAL_NUMBER,
    "precision": _OPTIONAL_NUMBER,
    "values": Key(string_list(what="value")),
}

_VALUE_BINDING = {
    "transform": Key(string(TRANSFORMS)),
    "scale": Key(number),
    "map": Key(scalar_table()),
}

OCF_PROPERTY = {
    "canonical": Key(string(pattern=IDENTIFIER, what="a canonical property name"),
                     required=True),
    **_VALUE_BINDING,
    "units_property": Key(string(pattern=OCF_NAME, what="an OCF property name")),
}

OCF = {
    "resource_type": Key(string(pattern=OCF_NAME, what="an OCF resource type"), required=True),
    "interfaces": Key(string_list(OCF_NAME, "OCF interface"), required=True),
    "default_interface": Key(string(pattern=OCF_NAME, what="an OCF interface"), required=True),
    "observable": Key(boolean, required=True),
    "href_hint": _TEXT,
    "constants": Key(constants),
    "properties": Key(named_tables(OCF_PROPERTY, OCF_NAME, "OCF property"), required=True),
}

ALLJOYN_PROPERTY = {
    "signature": Key(string(what="a D-Bus signature"), required=True),
    "access": Key(string(("read", "readwrite")), required=True),
    "emits_changed": Key(string(EMITS_CHANGED), required=True),
    "canonical": Key(string(pattern=IDENTIFIER, what="a canonical property name")),
    **_VALUE_BINDING,
    "const": Key(scalar),
    "bound": Key(fixed_list(string(pattern=IDENTIFIER, what="a canonical property name"),
                            string(("min", "max", "step", "precision")))),
}

ALLJOYN_METHOD = {
    "sets": Key(scalar_table(IDENTIFIER)),
    "unavailable": Key(string(what="why the method cannot be carried out")),
    "in_args": Key(list_of(fixed_list(
        string(pattern=MEMBER_NAME, what="an argument name"),
        string(what="a D-Bus signature"),
        string(pattern=IDENTIFIER, what="a canonical property name"),
    ))),
}

ALLJOYN_INTERFACE = {
    "name": Key(string(pattern=INTERFACE_NAME, what="a D-Bus interface name"), required=True),
    "version": Key(integer(1), required=True),
    "project_defined": Key(boolean),
    "properties": Key(named_tables(ALLJOYN_PROPERTY, MEMBER_NAME, "AllJoyn property")),
    "methods": Key(named_tables(ALLJOYN_METHOD, MEMBER_NAME, "AllJoyn method")),
}

ALLJOYN = {
    "object_path_hint": _TEXT,
    "interfaces": Key(table_array(ALLJOYN_INTERFACE), required=True),
}

_MQTT_ENTITY = {
    "component": Key(string(HA_COMPONENTS), required=True),
    "state_property": Key(string(pattern=IDENTIFIER, what="a canonical property name"),
                          required=True),
    "device_class": _TEXT,
    "unit": _TEXT,
    "state_class": Key(string(("measurement", "total", "total_increasing"))),
    "icon": Key(string(pattern=re.compile(r"mdi:[a-z0-9-]+\Z"), what="an mdi: icon name")),
    "payload_on": Key(scalar),
    "payload_off": Key(scalar),
}

MQTT = {**_MQTT_ENTITY, "additional_entities": Key(table_array(_MQTT_ENTITY))}

CAPABILITY = {
    "id": Key(string(pattern=IDENTIFIER, what="an identifier (a-z, 0-9, _)"), required=True),
    "title": Key(string(), required=True),
    "description": Key(string(), required=True),
    "properties": Key(named_tables(PROPERTY, IDENTIFIER, "canonical property"), required=True),
    "ocf": Key(table(OCF), required=True),
    "alljoyn": Key(table(ALLJOYN), required=True),
    "mqtt": Key(table(MQTT), required=True),
}

DEVICE_TYPE = {
    "id": Key(string(pattern=IDENTIFIER, what="an identifier (a-z, 0-9, _)"), required=True),
    "title": Key(string(), required=True),
    "ocf_device_type": Key(string(pattern=OCF_NAME, what="an OCF device type"), required=True),
    "required": Key(string_list(IDENTIFIER, "capability id", non_empty=False),
                    required=True),
    "optional": Key(string_list(IDENTIFIER, "capability id", non_empty=False)),
}
