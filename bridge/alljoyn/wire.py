"""D-Bus values <-> the gateway's JSON-like values, guided by signatures.

Layer: ``bridge.alljoyn``. Pure conversions (dbus-fast is used only for its ``Variant`` and
signature parser, no I/O). The rules are docs/protocol-notes.md, "Type mapping": ``b`` boolean,
integers, ``d`` number, ``s o g`` string, ``ay`` bytes, ``a{sv}`` object, structs become objects
keyed "0", "1"..., arrays become lists, variants are unwrapped. A value that does not fit its
signature raises ``bridge.core.errors.WrongType`` / ``OutOfRange`` naming the property; a
string D-Bus cannot carry (NUL, a lone surrogate, see ``bridge.core.text``) raises
``InvalidText``, a ``WrongType``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from dbus_fast import SignatureTree, SignatureType, Variant

from bridge.core.errors import WrongType
from bridge.core.text import check_texts
from bridge.core.values import check_signature_value
from bridge.model.types import Value

_INTEGER_CODES = "ynqiuxth"
#: the codes whose D-Bus value already is the JSON-like value.
_PLAIN_CODES = frozenset("ybnqiuxtdsogh")


@lru_cache(maxsize=512)
def signature_type(signature: str) -> SignatureType:
    """The parsed type of ``signature`` (kept: the same few signatures come back for every
    message, and parsing one costs more than the conversion it guides)."""
    types = SignatureTree(signature).types
    if len(types) != 1:
        raise ValueError(f"{signature!r} is not one complete type")
    return types[0]


def is_integer_signature(signature: str) -> bool:
    return signature in tuple(_INTEGER_CODES)


def from_dbus(signature: str | SignatureType, value: Any) -> Value:
    """The JSON-like value for a D-Bus ``value`` of ``signature``."""
    stype = signature_type(signature) if isinstance(signature, str) else signature
    token = stype.token
    if token == "v":
        if isinstance(value, Variant):
            return from_dbus(value.type, value.value)
        return value
    if token == "a":
        child = stype.children[0]
        if child.token == "{":
            key_type, value_type = child.children
            return {from_dbus(key_type, k): from_dbus(value_type, v) for k, v in value.items()}
        if child.token == "y":
            return bytes(value)
        return [from_dbus(child, item) for item in value]
    if token == "(":
        return {str(i): from_dbus(child, item)
                for i, (child, item) in enumerate(zip(stype.children, value, strict=True))}
    return value


def from_variant(value: Any) -> Value:
    """``from_dbus("v", value)`` without parsing a signature: a variant's value comes as it
    is when its type is a basic one, else through :func:`from_dbus` with the variant's type."""
    if not isinstance(value, Variant):
        return value
    if value.type.token in _PLAIN_CODES:
        return value.value
    return from_dbus(value.type, value.value)


def to_dbus(signature: str | SignatureType, value: Value, name: str = "value") -> Any:
    """The D-Bus value of ``signature`` for a JSON-like ``value``; typed error if it cannot be."""
    stype = signature_type(signature) if isinstance(signature, str) else signature
    token = stype.token
    sig = stype.signature
    if token == "v":
        if isinstance(value, Variant):
            return value
        inferred = infer_signature(value)
        return Variant(inferred, to_dbus(inferred, value, name))
    if token == "a":
        child = stype.children[0]
        if child.token == "{":
            if not isinstance(value, dict):
                raise WrongType(f"{name} must be an object, got {value!r}", prop=name)
            key_type, value_type = child.children
            return {to_dbus(key_type, k, name): to_dbus(value_type, v, name)
                    for k, v in value.items()}
        if child.token == "y":
            if isinstance(value, str):
                try:
                    return bytes.fromhex(value)
                except ValueError:
                    raise WrongType(f"{name} must be a byte string, got {value!r}",
                                    prop=name) from None
            if isinstance(value, list | tuple):
                return bytes(value)
            return check_signature_value(name, "ay", value)
        if not isinstance(value, list | tuple):
            raise WrongType(f"{name} must be an array, got {value!r}", prop=name)
        return [to_dbus(child, item, name) for item in value]
    if token == "(":
        items: list[Any]
        if isinstance(value, dict):
            items = [value.get(str(i)) for i in range(len(stype.children))]
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise WrongType(f"{name} must be an object or array, got {value!r}", prop=name)
        if len(items) != len(stype.children):
            raise WrongType(f"{name} must have {len(stype.children)} members", prop=name)
        return [to_dbus(child, item, name) for child, item in zip(stype.children, items,
                                                                   strict=True)]
    if token == "d" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if token in "sog" and isinstance(value, str):
        # A NUL or a lone surrogate would make the whole message invalid, and the bus drops
        # the connection that sent it: refuse the one value instead.
        check_texts(name, value)
    return check_signature_value(name, sig, value)


def infer_signature(value: Value) -> str:
    """A D-Bus signature for a JSON-like value sent inside a variant."""
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "i" if -(2**31) <= value < 2**31 else "x"
    if isinstance(value, float):
        return "d"
    if isinstance(value, str):
        return "s"
    if isinstance(value, bytes | bytearray):
        return "ay"
    if isinstance(value, dict):
        return "a{sv}"
    if isinstance(value, list | tuple):
        return "av"
    raise WrongType(f"cannot send {value!r} over D-Bus")


def zero(signature: str) -> Any:
    """A neutral D-Bus value of ``signature`` for a property whose value is not known yet."""
    stype = signature_type(signature)
    token = stype.token
    if token == "b":
        return False
    if token in _INTEGER_CODES:
        return 0
    if token == "d":
        return 0.0
    if token in "sog":
        return "/" if token == "o" else ""
    if token == "v":
        return Variant("s", "")
    if token == "a":
        child = stype.children[0]
        if child.token == "{":
            return {}
        return b"" if child.token == "y" else []
    if token == "(":
        return [zero(child.signature) for child in stype.children]
    return None


def variant(signature: str, value: Value, name: str = "value") -> Variant:
    return Variant(signature, to_dbus(signature, value, name))
