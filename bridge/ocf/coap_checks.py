"""What CoAP itself refuses in a request, before any OCF rule looks at it.

Layer: ``bridge.ocf``, pure: no socket, no asyncio, no aiocoap. The aiocoap glue
(``bridge.ocf.coap_server``) hands every request's options over as (number, value bytes)
pairs, before aiocoap assembles block-wise uploads; :func:`refusal` answers the ones CoAP
does not let a server carry out (docs/ocf.md, "What CoAP refuses"):

- RFC 7252 section 5.4.1: a critical option (odd number) the server does not recognise gets
  4.02 Bad Option in a confirmable request; a non-confirmable one is rejected, i.e. silently
  ignored (section 4.3). Sections 5.4.3 and 5.4.5 treat a recognised option whose value does
  not fit its defined length, and a non-repeatable one that occurs twice, the same way.
- RFC 7252 section 5.7.2: a server that is no proxy answers Proxy-Uri and Proxy-Scheme 5.05.
- RFC 7959 section 2.2: block size exponent 7 is reserved: 4.00. Section 2.3: every block but
  the last carries exactly the block size: 4.00 otherwise. Sections 2.9.3 and 4: a body over
  the server's limit gets 4.13 with Size1 giving the limit, as soon as a block (or a Size1
  the client announced) shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.ocf.served import Reply
from bridge.ocf.wire import OPT_ACCEPT_VERSION, OPT_CONTENT_VERSION

URI_HOST, URI_PORT, URI_PATH, URI_QUERY, ACCEPT = 3, 7, 11, 15, 17
BLOCK2, BLOCK1, PROXY_URI, PROXY_SCHEME, SIZE1 = 23, 27, 35, 39, 60

#: The critical options these servers act on, with the value lengths RFC 7252 table 4,
#: RFC 7959 section 2.1 and the OCF core specification define (min, max bytes).
RECOGNISED: dict[int, tuple[int, int]] = {
    URI_HOST: (1, 255), URI_PORT: (0, 2), URI_PATH: (0, 255), URI_QUERY: (0, 255),
    ACCEPT: (0, 2), BLOCK2: (0, 3), BLOCK1: (0, 3),
    OPT_ACCEPT_VERSION: (0, 2), OPT_CONTENT_VERSION: (0, 2),
}
#: Of those, the ones that may occur more than once.
REPEATABLE = frozenset({URI_PATH, URI_QUERY})
#: Reserved block size exponent (RFC 7959 section 2.2; BERT over TCP only, RFC 8323).
RESERVED_SZX = 7

Option = tuple[int, bytes]


def is_critical(number: int) -> bool:
    """RFC 7252 section 5.4.6: the lowest bit of an option number marks it critical."""
    return bool(number & 1)


@dataclass(frozen=True, slots=True)
class Block:
    """A Block1 or Block2 value (RFC 7959 section 2.2)."""

    number: int
    more: bool
    szx: int

    @classmethod
    def decode(cls, value: bytes) -> Block:
        raw = int.from_bytes(value, "big")
        return cls(raw >> 4, bool(raw & 0x08), raw & 0x07)

    @property
    def size(self) -> int:
        return 1 << (self.szx + 4)


def _name(number: int) -> str:
    names = {BLOCK1: "Block1", BLOCK2: "Block2", PROXY_URI: "Proxy-Uri",
             PROXY_SCHEME: "Proxy-Scheme"}
    return f"{names[number]} ({number})" if number in names else str(number)


def _bad_option(options: Sequence[Option]) -> str | None:
    """Why an option makes the request one this server cannot understand (or None)."""
    seen: set[int] = set()
    for number, value in options:
        if not is_critical(number) or number in (PROXY_URI, PROXY_SCHEME):
            seen.add(number)
            continue
        limits = RECOGNISED.get(number)
        if limits is None:
            return f"unrecognised critical option {number}"
        low, high = limits
        if not low <= len(value) <= high:
            return (f"option {_name(number)} is {len(value)} bytes long "
                    f"(allowed: {low} to {high})")
        if number in seen and number not in REPEATABLE:
            return f"option {_name(number)} occurs more than once"
        seen.add(number)
    return None


def refusal(options: Sequence[Option], payload_length: int, *, confirmable: bool,
            max_payload: int) -> Reply | None:
    """The answer to a request CoAP does not let the server carry out, or None.

    ``options`` are the request's options in order, each with its value as sent (aiocoap
    gives integer values without leading zero bytes); ``payload_length`` is that of this
    message alone (one block of a block-wise upload); ``max_payload`` the largest body the
    server takes. A reply with ``silent`` set means: send nothing at all.
    """
    problem = _bad_option(options)
    if problem is not None:
        return Reply(402, diagnostic=problem, silent=not confirmable)
    numbers = {number: value for number, value in options}
    for number in (PROXY_URI, PROXY_SCHEME):
        if number in numbers:
            return Reply(505, diagnostic=f"option {_name(number)}: this server is no proxy")
    for number in (BLOCK1, BLOCK2):
        if number in numbers and Block.decode(numbers[number]).szx == RESERVED_SZX:
            return Reply(400, diagnostic=f"{_name(number)}: block size exponent 7 is "
                                         "reserved (RFC 7959 section 2.2)")
    too_large = Reply(413, diagnostic=f"request body larger than {max_payload} bytes",
                      size1=max_payload)
    if SIZE1 in numbers and int.from_bytes(numbers[SIZE1], "big") > max_payload:
        return too_large
    if BLOCK1 not in numbers:
        return too_large if payload_length > max_payload else None
    block = Block.decode(numbers[BLOCK1])
    if block.more and payload_length != block.size:
        return Reply(400, diagnostic=f"Block1 block {block.number} has {payload_length} bytes "
                                     f"but more follow: it must have {block.size}")
    if payload_length > block.size:
        return Reply(400, diagnostic=f"Block1 block {block.number} has {payload_length} bytes, "
                                     f"more than its block size {block.size}")
    if block.number * block.size + payload_length > max_payload:
        return too_large
    return None
