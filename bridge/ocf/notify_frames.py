"""The datagram of a non-confirmable notification, framed without aiocoap.

Layer: ``bridge.ocf``, pure: no socket, no asyncio, no aiocoap. A notification of a virtual
OCF resource is a 2.05 Content response (RFC 7252 section 3) on the registration's token with
an Observe option (RFC 7641 section 2) and the options every OCF representation carries
(Content-Format 10000 and OCF-Content-Format-Version, given here already as numbers and
values by ``bridge.ocf.coap_messages``, so the bytes are those aiocoap would send).
:class:`NotificationFrame` keeps those options encoded once; :meth:`NotificationFrame.frame`
adds the header, token, Observe number and payload of one notification.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

#: RFC 7252 section 3: version 1, type NON; code 2.05 Content; the payload marker.
_NON_HEADER = 0x40 | (1 << 4)
_CONTENT = 0x45
_PAYLOAD_MARKER = b"\xff"
#: RFC 7641 section 2: the Observe option's number.
OBSERVE = 6
_HEADER = struct.Struct("!BBH")


def _nibble(value: int) -> tuple[int, bytes]:
    """An option delta or length as its 4-bit nibble and extension bytes (section 3.1)."""
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes((value - 13,))
    return 14, (value - 269).to_bytes(2, "big")


def encode_options(options: Sequence[tuple[int, bytes]], after: int = 0) -> bytes:
    """Options (number, encoded value), ascending, as they follow option number ``after``."""
    out = bytearray()
    previous = after
    for number, value in options:
        delta, delta_ext = _nibble(number - previous)
        length, length_ext = _nibble(len(value))
        out.append((delta << 4) | length)
        out += delta_ext + length_ext + value
        previous = number
    return bytes(out)


def uint_value(value: int) -> bytes:
    """An unsigned option value in its shortest form (0 is no bytes, section 3.2)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


class NotificationFrame:
    """Frames non-confirmable notifications that carry ``options`` (numbers above Observe)."""

    def __init__(self, options: Sequence[tuple[int, bytes]]) -> None:
        if any(number <= OBSERVE for number, _ in options):
            raise ValueError("a notification's other options must follow Observe (6)")
        self._after_observe = encode_options(sorted(options), OBSERVE)

    def frame(self, mid: int, token: bytes, observe: int, payload: bytes) -> bytes:
        """One notification: NON 2.05 with message id ``mid`` and Observe ``observe``."""
        number = uint_value(observe)
        return b"".join((
            _HEADER.pack(_NON_HEADER | len(token), _CONTENT, mid), token,
            bytes(((OBSERVE << 4) | len(number),)), number, self._after_observe,
            _PAYLOAD_MARKER if payload else b"", payload))
