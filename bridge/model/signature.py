"""D-Bus type signatures as the AllJoyn bindings of the models use them.

Layer: ``bridge.model``. Pure functions; no D-Bus library is imported here (only the AllJoyn
adapter may do that). The grammar is the one of the D-Bus specification, "Type System":
basic codes, ``v``, arrays ``a<T>``, structs ``(<T>...)`` and dict entries ``{<basic><T>}`` that
may only appear as array elements; at most 255 characters and 32 levels of each nesting.
"""

from __future__ import annotations

from typing import Literal

BASIC_CODES = "ybnqiuxtdsogh"
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "y": (0, 2**8 - 1),
    "n": (-(2**15), 2**15 - 1),
    "q": (0, 2**16 - 1),
    "i": (-(2**31), 2**31 - 1),
    "u": (0, 2**32 - 1),
    "x": (-(2**63), 2**63 - 1),
    "t": (0, 2**64 - 1),
}
_MAX_LENGTH = 255
_MAX_DEPTH = 32

#: the kind of JSON-like value a signature carries.
SignatureKind = Literal["boolean", "integer", "number", "string", "other"]


def _complete_type_end(sig: str, start: int, arrays: int, structs: int) -> int:
    """Index just past the complete type starting at ``start``; ValueError if there is none."""
    if start >= len(sig):
        raise ValueError("signature ends where a type was expected")
    code = sig[start]
    if code in BASIC_CODES or code == "v":
        return start + 1
    if code == "a":
        if arrays >= _MAX_DEPTH:
            raise ValueError("arrays nested too deeply")
        if start + 1 < len(sig) and sig[start + 1] == "{":
            return _dict_entry_end(sig, start + 1, arrays + 1, structs)
        return _complete_type_end(sig, start + 1, arrays + 1, structs)
    if code == "(":
        if structs >= _MAX_DEPTH:
            raise ValueError("structs nested too deeply")
        pos = start + 1
        if pos < len(sig) and sig[pos] == ")":
            raise ValueError("empty struct")
        while pos < len(sig) and sig[pos] != ")":
            pos = _complete_type_end(sig, pos, arrays, structs + 1)
        if pos >= len(sig):
            raise ValueError("struct not closed")
        return pos + 1
    raise ValueError(f"unexpected {code!r}")


def _dict_entry_end(sig: str, start: int, arrays: int, structs: int) -> int:
    key = start + 1
    if key >= len(sig) or sig[key] not in BASIC_CODES:
        raise ValueError("a dict entry key must be a basic type")
    pos = _complete_type_end(sig, key + 1, arrays, structs + 1)
    if pos >= len(sig) or sig[pos] != "}":
        raise ValueError("a dict entry holds exactly one key and one value")
    return pos + 1


def single_complete_type_error(sig: str) -> str | None:
    """Why ``sig`` is not exactly one complete D-Bus type, or None when it is."""
    if not sig:
        return "an empty signature"
    if len(sig) > _MAX_LENGTH:
        return "a signature longer than 255 characters"
    try:
        end = _complete_type_end(sig, 0, 0, 0)
    except ValueError as exc:
        return str(exc)
    if end != len(sig):
        return f"more than one complete type ({sig[:end]!r} then {sig[end:]!r})"
    return None


def kind(sig: str) -> SignatureKind:
    """The kind of value a (valid) signature carries."""
    if sig == "b":
        return "boolean"
    if sig in INTEGER_RANGES:
        return "integer"
    if sig == "d":
        return "number"
    if sig in ("s", "o", "g"):
        return "string"
    return "other"


def value_fits(sig: str, value: object) -> bool:
    """True when ``value`` can travel in a D-Bus value of signature ``sig`` (basic types only)."""
    sig_kind = kind(sig)
    if sig_kind == "boolean":
        return isinstance(value, bool)
    if sig_kind == "integer":
        low, high = INTEGER_RANGES[sig]
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if sig_kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if sig_kind == "string":
        return isinstance(value, str)
    return False
