"""The CoAP datagrams of the lean GET path: which requests it may answer, and its answers.

Layer: ``bridge.ocf``, pure: no socket, no asyncio, no aiocoap. The lean path
(``bridge.ocf.lean_path``, docs/ocf.md "The lean GET path") answers the hot request of a
virtual OCF device, a plain GET of one of its resources, without aiocoap's message and
exchange layers. :func:`parse_get` reads a datagram (RFC 7252 section 3) and returns a
:class:`LeanGet` only when the request is one the lean path can answer exactly as aiocoap and
the OCF rules of ``bridge.ocf.served`` would: a confirmable or non-confirmable GET with no
payload whose options are Uri-Path, Uri-Query, one Accept of ``application/vnd.ocf+cbor`` and
one OCF-Accept-Content-Format-Version of OCF 1.0.0 or later. Everything else (another option,
Observe, Block2, an Accept the OCF rules answer 4.06, a malformed datagram) is None: the
caller then hands the datagram to aiocoap unchanged (:class:`GetParser` does the same and
remembers what the options of recent requests held). :func:`answer` frames a 2.05 Content
reply around options and a payload encoded elsewhere.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from bridge.ocf.wire import CF_OCF_CBOR, OCF_1_0, OPT_ACCEPT_VERSION

#: RFC 7252 section 3 message types and codes used here.
CON, NON, ACK = 0, 1, 2
GET = 0x01
CONTENT = 0x45
URI_PATH, URI_QUERY, ACCEPT = 11, 15, 17
#: Option delta/length nibbles 13 and 14 announce one and two extension bytes (section 3.1).
_EXT1, _EXT2 = 13, 14
_HEADER = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class LeanGet:
    """A GET the lean path may answer: its header and what the OCF rules look at."""

    mtype: int
    mid: int
    token: bytes
    path: str
    query: tuple[str, ...]


def option_field(nibble: int, data: bytes, at: int) -> tuple[int, int]:
    """An option delta or length nibble with its extension bytes, and where the next field
    starts; (-1, at) when malformed (nibble 15 outside a payload marker, data cut short).
    The lean paths' parsers (this one and ``bridge.ocf.notice_frames``) share it."""
    if nibble < _EXT1:
        return nibble, at
    if nibble == _EXT1:
        if at >= len(data):
            return -1, at
        return data[at] + 13, at + 1
    if nibble == _EXT2:
        if at + 1 >= len(data):
            return -1, at
        return ((data[at] << 8) | data[at + 1]) + 269, at + 2
    return -1, at


Target = tuple[str, tuple[str, ...]]


def parse_get(data: bytes) -> LeanGet | None:
    """The request in ``data`` when the lean path may answer it, else None."""
    header = _header(data)
    if header is None:
        return None
    target = _target(data[4 + len(header[2]):])
    return None if target is None else LeanGet(*header, *target)


class GetParser:
    """:func:`parse_get` that remembers what it found in the options of the last requests:
    clients repeat the same GET, and then only the header is read again. At most ``size``
    option sequences are remembered (then it starts over), whatever clients send."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._seen: dict[bytes, Target | None] = {}

    def __call__(self, data: bytes) -> LeanGet | None:
        header = _header(data)
        if header is None:
            return None
        target = self.target(data[4 + len(header[2]):])
        return None if target is None else LeanGet(*header, *target)

    def target(self, options: bytes) -> Target | None:
        """Path and query of the ``options`` that follow a GET's token (as :func:`parse_get`
        reads them); None when the lean path may not answer them."""
        try:
            return self._seen[options]
        except KeyError:
            if len(self._seen) >= self._size:
                self._seen.clear()
            target = self._seen[options] = _target(options)
            return target


def _header(data: bytes) -> tuple[int, int, bytes] | None:
    """Type, message id and token of a CON or NON GET (section 3), else None."""
    if len(data) < 4:
        return None
    first, code, mid = _HEADER.unpack_from(data)
    mtype = (first >> 4) & 0x03
    token_length = first & 0x0F
    if (first >> 6 != 1 or code != GET or mtype > NON or token_length > 8
            or 4 + token_length > len(data)):
        return None
    return mtype, mid, data[4:4 + token_length]


def _target(data: bytes) -> Target | None:
    """Path and query of the options in ``data`` (what follows the token), when they are
    all options the lean path may answer and no payload follows; else None."""
    segments: list[str] = []
    query: list[str] = []
    number = at = 0
    accept = version = False
    try:
        while at < len(data):
            byte = data[at]
            if byte == 0xFF:
                # A payload marker: a GET of the lean path carries no payload (and a marker
                # with nothing after it is a format error, section 3.1).
                return None
            delta, at = option_field(byte >> 4, data, at + 1)
            if delta < 0:
                return None
            length, start = option_field(byte & 0x0F, data, at)
            if length < 0:
                return None
            number += delta
            end = start + length
            if end > len(data):
                return None
            value = data[start:end]
            at = end
            # Lengths past those RFC 7252 table 4 defines get 4.02 from bridge.ocf.coap_checks.
            if number in (URI_PATH, URI_QUERY):
                if len(value) > 255:
                    return None
                (segments if number == URI_PATH else query).append(value.decode("utf-8"))
            elif number == ACCEPT:
                if accept or len(value) > 2 or int.from_bytes(value, "big") != CF_OCF_CBOR:
                    return None
                accept = True
            elif number == OPT_ACCEPT_VERSION:
                if version or len(value) > 2 or int.from_bytes(value, "big") < OCF_1_0:
                    return None
                version = True
            else:
                return None
    except UnicodeDecodeError:
        return None
    return "/" + "/".join(segments), tuple(query)


#: The first two bytes of a 2.05 reply, per token length: piggybacked on an ACK, and a NON.
ACK_CONTENT = tuple(bytes((0x40 | (ACK << 4) | n, CONTENT)) for n in range(9))
NON_CONTENT = tuple(bytes((0x40 | (NON << 4) | n, CONTENT)) for n in range(9))


def reply_tail(options: bytes, payload: bytes) -> bytes:
    """What follows the token in every 2.05 reply with ``payload``: the options (encoded
    already), the payload marker and the payload (section 3)."""
    return b"".join((options, b"\xff", payload))


def answer(request: LeanGet, mid: int, options: bytes, payload: bytes) -> bytes:
    """The 2.05 reply to ``request``: piggybacked on the ACK of a CON (its message id), a NON
    with ``mid`` for a NON (section 5.2); ``options`` are encoded already."""
    token_length = len(request.token)
    if request.mtype == CON:
        start, reply_mid = ACK_CONTENT[token_length], request.mid
    else:
        start, reply_mid = NON_CONTENT[token_length], mid
    return b"".join((start, reply_mid.to_bytes(2, "big"), request.token,
                     reply_tail(options, payload)))
