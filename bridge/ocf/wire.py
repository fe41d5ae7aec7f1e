"""OCF wire constants and the CBOR payload codec.

Layer: ``bridge.ocf``, pure: no socket, no asyncio, no aiocoap. Everything here is a plain
function over bytes and Python values, so it is unit-tested (and fuzzed) on its own. The
numbers are those of docs/protocol-notes.md, "OCF over CoAP".
"""

from __future__ import annotations

import io
import math
from typing import Any

import cbor2

#: ``application/vnd.ocf+cbor``, the content format of OCF 1.x payloads.
CF_OCF_CBOR = 10000
#: ``application/cbor``, what OIC 1.1-era peers send; accepted on input, never produced.
CF_CBOR = 60
CF_JSON = 50
CF_LINK_FORMAT = 40

#: OCF-Accept-Content-Format-Version and OCF-Content-Format-Version option numbers.
OPT_ACCEPT_VERSION = 2049
OPT_CONTENT_VERSION = 2053

COAP_PORT = 5683
COAPS_PORT = 5684
MCAST_V4 = "224.0.1.187"
#: ff0X::158 by scope name (``ocf.ipv6_scopes``).
MCAST_V6 = {"link": "ff02::158", "realm": "ff03::158", "site": "ff05::158"}

#: ``p.bm`` bits (OCF core, "Policy Parameter").
BM_DISCOVERABLE = 1
BM_OBSERVABLE = 2


def version_value(major: int, minor: int = 0, patch: int = 0) -> int:
    """The value of the version options: ``major<<11 | minor<<6 | patch``."""
    return (major << 11) | (minor << 6) | patch


#: OCF 1.0.0, what this gateway speaks and announces.
OCF_1_0 = version_value(1, 0, 0)
#: OIC 1.1.0 as the facts page gives it (2112), sent by OIC 1.1-era clients with format 60.
OIC_1_1 = 2112


def version_text(value: int) -> str:
    return f"{value >> 11}.{(value >> 6) & 0x1F}.{value & 0x3F}"


class PayloadError(ValueError):
    """A payload that is not valid CBOR, or not the shape a handler needs.

    The message is the CoAP diagnostic payload sent back (4.00), so it says what was wrong.
    """


def decode(payload: bytes) -> Any:
    """Decode one CBOR item that fills the whole payload; an empty payload is ``None``."""
    if not payload:
        return None
    data = io.BytesIO(payload)
    try:
        value = cbor2.CBORDecoder(data).decode()
    except cbor2.CBORDecodeEOF:
        # The data ends inside an item. The reference stack answers such a request 4.13 (it
        # takes a short payload for one its buffer cut); the payload is malformed, and 4.00
        # says so (docs/ocf.md, "Answers where the specification leaves room").
        raise PayloadError(f"truncated CBOR payload: it ends inside an item "
                           f"({len(payload)} bytes)") from None
    except Exception as err:  # cbor2 raises several types (and ValueError subclasses)
        raise PayloadError(f"malformed CBOR payload: {err}") from None
    if data.tell() != len(payload):
        # A payload is one representation, one data item: bytes left over are the "too much
        # data" error of RFC 8949 appendix F, never silently dropped.
        raise PayloadError(f"{len(payload) - data.tell()} bytes after the CBOR item that "
                           f"ends at byte {data.tell()}")
    return _checked(value)


def _checked(value: Any) -> Any:
    """``value`` as decoded, once :func:`_check` found it plain (a copy from :func:`_plain`
    when it holds a tuple); raises ``PayloadError`` as :func:`_plain` does."""
    try:
        _check(value, 0)
    except _Copy:
        return _plain(value, 0)
    return value


class _Copy(Exception):
    """A decoded item holds a tuple: :func:`_plain` makes the lists of a plain copy."""


#: Exact types :func:`_check` passes without a further call (bool is an int, but say it).
_SCALARS = frozenset((type(None), bool, int, str, bytes))


def _check(value: Any, depth: int) -> None:
    """Raise what :func:`_plain` raises for ``value``, without copying it: what cbor2 decodes
    is already made of plain lists and dicts, so a listing of a thousand links is walked
    once and kept as it is (``_Copy`` when a tuple needs turning into a list)."""
    if depth > 32:
        raise PayloadError("CBOR payload nested too deeply")
    kind = type(value)
    if kind is dict:
        shallow = depth < 32  # an item one level down may still be a scalar
        for key, item in value.items():
            if not isinstance(key, str):
                raise PayloadError(f"map key {key!r} is not a text string")
            if not (shallow and type(item) in _SCALARS):
                _check(item, depth + 1)
    elif kind is list:
        shallow = depth < 32
        for item in value:
            if not (shallow and type(item) in _SCALARS):
                _check(item, depth + 1)
    elif kind is float:
        if not math.isfinite(value):
            raise PayloadError(f"non-finite number {value!r} in payload")
    elif isinstance(value, tuple):
        raise _Copy
    else:
        _plain(value, depth)  # the other scalars, subclasses, and the errors


def _plain(value: Any, depth: int) -> Any:
    """Reject CBOR that has no JSON-like meaning (tags, undefined, NaN, deep nesting), as a
    plain copy (tuples become lists); :func:`_check` is the walk that copies nothing.

    Values coming from a device travel on to AllJoyn and MQTT; only plain data may.
    """
    if depth > 32:
        raise PayloadError("CBOR payload nested too deeply")
    if value is None or isinstance(value, bool | int | str | bytes):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(f"non-finite number {value!r} in payload")
        return value
    if isinstance(value, list | tuple):
        return [_plain(item, depth + 1) for item in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise PayloadError(f"map key {key!r} is not a text string")
            out[key] = _plain(item, depth + 1)
        return out
    raise PayloadError(f"unsupported CBOR item {type(value).__name__} in payload")


def decode_map(payload: bytes) -> dict[str, Any]:
    """Decode a payload that must be a CBOR map (a resource representation)."""
    value = decode(payload)
    if not isinstance(value, dict):
        kind = "empty payload" if value is None else f"a {type(value).__name__}"
        raise PayloadError(f"expected a CBOR map of properties, got {kind}")
    return value


def encode(value: Any) -> bytes:
    return bytes(cbor2.dumps(value))


def status_number(code_class: int, detail: int) -> int:
    """The HTTP-like number of a CoAP code (4.04 -> 404), used by ``DeviceError.code``."""
    return code_class * 100 + detail


def split_status(number: int) -> tuple[int, int]:
    """The CoAP class and detail of a status number (404 -> (4, 4))."""
    return number // 100, number % 100
