"""Conversion between aiocoap messages and the OCF request/reply values of ``served``.

Layer: ``bridge.ocf`` I/O edge (aiocoap types, no sockets of its own). OCF's version options
(2049, 2053) are critical, unknown to aiocoap, and carried as plain unsigned integers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.optionnumbers import OptionNumber
from aiocoap.optiontypes import UintOption

from bridge.ocf import wire
from bridge.ocf.coap_checks import refusal
from bridge.ocf.served import Reply, Request

#: RFC 7252 section 3 message types.
CON, NON, ACK, RST = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Header:
    """The fixed part of a CoAP datagram that aiocoap manages itself for its own exchanges
    (and deprecates setting from outside): type, message id, token."""

    mtype: int
    mid: int
    token: bytes


def header_of(data: bytes) -> Header:
    """The header of a CoAP datagram; ``ValueError`` when it is not one."""
    if len(data) < 4 or data[0] >> 6 != 1 or (data[0] & 0x0F) > 8:
        raise ValueError("not a CoAP datagram")
    token_length = data[0] & 0x0F
    if len(data) < 4 + token_length:
        raise ValueError("CoAP datagram shorter than its token")
    mtype = (data[0] >> 4) & 0x03
    (mid,) = struct.unpack_from("!H", data, 2)
    return Header(mtype, mid, bytes(data[4:4 + token_length]))


def datagram(message: Any, header: Header) -> bytes:
    """``message``'s code, options and payload framed with ``header`` (RFC 7252 section 3),
    for the discovery sockets, which run their own exchanges outside aiocoap."""
    first = 0x40 | (header.mtype << 4) | len(header.token)
    body = bytes(message.opt.encode())
    if message.payload:
        body += b"\xff" + bytes(message.payload)
    return struct.pack("!BBH", first, int(message.code), header.mid) + header.token + body


def empty_ack(mid: int) -> bytes:
    """The empty ACK of a CON message (RFC 7252 section 4.2)."""
    return struct.pack("!BBH", 0x40 | (ACK << 4), 0, mid)


def uint_option(message: Any, number: int) -> int | None:
    values = message.opt.get_option(OptionNumber(number))
    if not values:
        return None
    raw = values[0].encode() if hasattr(values[0], "encode") else b""
    return int.from_bytes(raw, "big") if len(raw) <= 4 else None


def set_version(message: Any, number: int) -> None:
    message.opt.add_option(UintOption(number, wire.OCF_1_0))


def is_multicast(message: Any) -> bool:
    return bool(getattr(message.remote, "is_multicast_locally", False))


def to_request(message: Any, max_payload: int) -> Request:
    cf = message.opt.content_format
    accept = message.opt.accept
    return Request(
        method=message.code.name if message.code.is_request() else str(message.code),
        path="/" + "/".join(message.opt.uri_path),
        query=tuple(message.opt.uri_query),
        payload=bytes(message.payload),
        content_format=None if cf is None else int(cf),
        accept=None if accept is None else int(accept),
        accept_version=uint_option(message, wire.OPT_ACCEPT_VERSION),
        multicast=is_multicast(message),
        max_payload=max_payload,
    )


def refused(message: Any, max_payload: int) -> Message | None:
    """The answer CoAP's own rules give ``message`` (``bridge.ocf.coap_checks``), or None
    when the request may go on to the OCF rules. Like every error answer to a multicast
    request, it is then sent to nobody."""
    options = [(int(option.number), bytes(option.encode())) for option in message.opt.option_list()]
    reply = refusal(options, len(message.payload), confirmable=message.mtype in (None, CON),
                    max_payload=max_payload)
    if reply is None:
        return None
    if is_multicast(message):
        reply = Reply(reply.code, silent=True)
    return to_message(reply)


def code_of(status: int) -> Code:
    major, minor = wire.split_status(status)
    return Code(major * 32 + minor)


def status_number(code: Any) -> int:
    """The HTTP-like number of an aiocoap ``Code`` (4.04 -> 404). aiocoap's ``Code`` offers
    ``class_`` but no detail attribute: the detail is the code's low five bits (RFC 7252
    section 3)."""
    return wire.status_number(int(code) >> 5, int(code) & 0x1F)


@dataclass(frozen=True, slots=True)
class EncodedReply:
    """A reply whose payload was encoded when it was made: a notification's snapshot of a
    representation, which later changes to the resource must not alter."""

    code: int
    payload: bytes
    #: the payload is a CBOR representation (else a diagnostic text or nothing).
    representation: bool

    @property
    def success(self) -> bool:
        return self.code < 400


def encode_reply(reply: Reply) -> EncodedReply:
    if not reply.success:
        return EncodedReply(reply.code, reply.diagnostic.encode("utf-8"), False)
    if reply.body is None:
        return EncodedReply(reply.code, b"", False)
    return EncodedReply(reply.code, wire.encode(reply.body), True)


def message_of(encoded: EncodedReply) -> Message:
    if not encoded.success:
        return Message(code=code_of(encoded.code), payload=encoded.payload)
    if encoded.representation:
        message = Message(code=code_of(encoded.code), payload=encoded.payload,
                          content_format=wire.CF_OCF_CBOR)
    else:
        message = Message(code=code_of(encoded.code))
    set_version(message, wire.OPT_CONTENT_VERSION)
    return message


def representation_options() -> bytes:
    """The encoded options of every 2.05 reply that carries a representation (as
    :func:`message_of` makes it), for the lean GET path (``bridge.ocf.lean_path``)."""
    return bytes(message_of(EncodedReply(205, b"", True)).opt.encode())


def representation_option_list() -> list[tuple[int, bytes]]:
    """The options of :func:`representation_options` as (number, encoded value) pairs, for
    the notifications framed without aiocoap (``bridge.ocf.notify_frames``)."""
    options = message_of(EncodedReply(205, b"", True)).opt.option_list()
    return [(int(option.number), bytes(option.encode())) for option in options]


def to_message(reply: Reply) -> Message:
    if reply.silent:
        # RFC 7967 No-Response "not interested in any": aiocoap then sends nothing.
        return Message(code=code_of(reply.code), no_response=26)
    message = message_of(encode_reply(reply))
    if reply.size1 is not None:
        message.opt.size1 = reply.size1
    return message
