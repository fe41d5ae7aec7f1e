"""The datagrams of the lean notification path: which notifications it may take itself.

Layer: ``bridge.ocf``, pure: no socket, no asyncio, no aiocoap. The gateway's OCF client
receives the notifications of its observations (RFC 7641) on aiocoap's UDP socket; the lean
receive path (``bridge.ocf.lean_notify``, docs/ocf.md "The lean notification path") takes
the plain ones before aiocoap's message layer. :func:`parse_notice` reads a datagram
(RFC 7252 section 3) and returns a :class:`Notice` only for a notification that needs
nothing but its payload decoded: a CON or NON 2.05 Content with one Observe option, one
Content-Format of ``application/vnd.ocf+cbor`` and a payload in this one datagram, and no
other options than ETag, Max-Age and OCF-Content-Format-Version. Everything else (the
piggybacked first answer, an error code, Block2 or Size2, another content format or option,
an empty message, a malformed datagram) is None: the caller hands the datagram to aiocoap
unchanged. :func:`empty_ack` is the acknowledgement of a confirmable one (section 4.2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from bridge.ocf.lean_get import option_field
from bridge.ocf.wire import CF_OCF_CBOR, OPT_CONTENT_VERSION

#: RFC 7252 section 3 message types, and the code 2.05 Content.
CON, NON = 0, 1
CONTENT = 0x45
#: Option numbers: RFC 7252 section 5.10 (ETag, Content-Format, Max-Age), RFC 7641 (Observe).
ETAG, OBSERVE, CONTENT_FORMAT, MAX_AGE = 4, 6, 12, 14
#: Options that change nothing in how a notification's payload is read here.
_IGNORED = frozenset({ETAG, MAX_AGE, OPT_CONTENT_VERSION})
#: Option nibbles from 13 on announce extension bytes (section 3.1; lean_get.option_field).
_EXT1 = 13
_HEADER = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification the lean path may take: its header, Observe number and payload."""

    mtype: int
    mid: int
    token: bytes
    observe: int
    payload: bytes


def parse_notice(data: bytes) -> Notice | None:
    """The notification in ``data`` when the lean path may take it, else None."""
    if len(data) < 4:
        return None
    first, code, mid = _HEADER.unpack_from(data)
    mtype = (first >> 4) & 0x03
    token_length = first & 0x0F
    if (first >> 6 != 1 or code != CONTENT or mtype > NON or token_length > 8
            or 4 + token_length > len(data)):
        return None
    at = 4 + token_length
    number = 0
    observe = -1
    content_format = False
    end = len(data)
    while at < end:
        byte = data[at]
        if byte == 0xFF:
            payload = data[at + 1:]
            # A marker with nothing after it is a format error (section 3.1).
            if not payload or observe < 0 or not content_format:
                return None
            return Notice(mtype, mid, data[4:4 + token_length], observe, payload)
        at += 1
        delta = byte >> 4
        length = byte & 0x0F
        if delta >= _EXT1:
            delta, at = option_field(delta, data, at)
        if length >= _EXT1:
            length, at = option_field(length, data, at)
        if delta < 0 or length < 0 or at + length > end:
            return None
        number += delta
        if number == OBSERVE:
            if observe >= 0 or length > 3:
                return None
            observe = int.from_bytes(data[at:at + length], "big")
        elif number == CONTENT_FORMAT:
            if content_format or length > 2 \
                    or int.from_bytes(data[at:at + length], "big") != CF_OCF_CBOR:
                return None
            content_format = True
        elif number not in _IGNORED:
            return None
        at += length
    return None  # no payload: nothing to decode here
