"""Which datagrams the lean GET path takes (``bridge.ocf.lean_get``), without a network.

aiocoap's own codec is the reference: a request built and encoded by aiocoap is taken exactly
when it is a GET whose options the lean path may answer, and then with the path and query
aiocoap decodes; random bytes never raise. The answers' framing is checked against aiocoap's
decoder.
"""

from __future__ import annotations

from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import OpaqueOption, UintOption
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.ocf import wire
from bridge.ocf.coap_messages import ACK, CON, NON, Header, datagram
from bridge.ocf.lean_get import LeanGet, answer, parse_get

LEAN_OPTIONS = {11, 15, 17, wire.OPT_ACCEPT_VERSION}
#: String options (RFC 7252 table 4): random bytes in them are not text aiocoap decodes.
STRING_OPTIONS = {3, 8, 11, 15, 20, 35, 39}
segments = st.text(max_size=12).filter(lambda s: len(s.encode()) <= 255)


def framed(message: Message, mtype: int = CON, mid: int = 0x1234,
           token: bytes = b"\x01\x02") -> bytes:
    return datagram(message, Header(mtype, mid, token))


def test_a_plain_get_is_taken_with_its_header_path_and_query() -> None:
    message = Message(code=Code.GET, uri_path=["widget", "main"], uri_query=["if=oic.if.r"])
    taken = parse_get(framed(message, NON, 0xBEEF, b"\x09"))
    assert taken == LeanGet(NON, 0xBEEF, b"\x09", "/widget/main", ("if=oic.if.r",))
    assert parse_get(framed(Message(code=Code.GET))) == LeanGet(CON, 0x1234, b"\x01\x02",
                                                                "/", ())


def test_what_is_left_to_aiocoap() -> None:
    def with_options(*options: object, code: Code = Code.GET, payload: bytes = b"") -> bytes:
        message = Message(code=code, uri_path=["switch"], payload=payload)
        for option in options:
            message.opt.add_option(option)
        return framed(message)

    left = {
        "POST": with_options(code=Code.POST),
        "a payload": with_options(payload=b"\xa0"),
        "Accept 60": with_options(UintOption(17, wire.CF_CBOR)),
        "Accept twice": with_options(UintOption(17, wire.CF_OCF_CBOR),
                                     UintOption(17, wire.CF_OCF_CBOR)),
        "Accept of three bytes": with_options(OpaqueOption(17, b"\x00\x27\x10")),
        "a version below 1.0.0": with_options(UintOption(wire.OPT_ACCEPT_VERSION, 2047)),
        "a version of three bytes": with_options(OpaqueOption(wire.OPT_ACCEPT_VERSION,
                                                              b"\x00\x08\x00")),
        "Observe": with_options(UintOption(6, 0)),
        "Block2": with_options(UintOption(23, 0x06)),
        "an elective option": with_options(OpaqueOption(2048, b"x")),
        "a segment over 255 bytes": framed(Message(code=Code.GET, uri_path=["x" * 256])),
    }
    for what, data in left.items():
        assert parse_get(data) is None, what
    good = framed(Message(code=Code.GET, uri_path=["switch"]))
    assert parse_get(good[:3]) is None
    assert parse_get(b"\x80" + good[1:]) is None  # CoAP version 2
    assert parse_get(bytes([good[0] | 0x20]) + good[1:]) is None  # an ACK
    assert parse_get(good + b"\xff") is None  # a payload marker with nothing after it
    assert parse_get(good[:-1] + b"\xff") is None  # invalid UTF-8 in a segment
    assert parse_get(good + b"\x0f") is None  # reserved length nibble


@given(st.lists(segments, max_size=4), st.lists(segments, max_size=3),
       st.lists(st.tuples(st.integers(1, 3000).filter(lambda n: n not in STRING_OPTIONS),
                          st.binary(max_size=4)), max_size=3),
       st.sampled_from([Code.GET, Code.POST, Code.PUT]), st.binary(max_size=3))
@settings(max_examples=400, deadline=None)
def test_taken_exactly_when_aiocoap_decodes_a_lean_get(
        path: list[str], query: list[str], extra: list[tuple[int, bytes]], code: Code,
        payload: bytes) -> None:
    message = Message(code=code, uri_path=path, uri_query=query, payload=payload)
    for number, value in extra:
        message.opt.add_option(OpaqueOption(number, value))
    data = framed(message)
    decoded = Message.decode(data)
    counts: dict[int, int] = {}
    lean_values = True
    for option in decoded.opt.option_list():
        number, value = int(option.number), bytes(option.encode())
        counts[number] = counts.get(number, 0) + 1
        if number == 17:
            lean_values &= len(value) <= 2 and int.from_bytes(value, "big") == wire.CF_OCF_CBOR
        elif number == wire.OPT_ACCEPT_VERSION:
            lean_values &= len(value) <= 2 and int.from_bytes(value, "big") >= wire.OCF_1_0
    expected = (code == Code.GET and not payload and lean_values
                and set(counts) <= LEAN_OPTIONS
                and counts.get(17, 0) <= 1 and counts.get(wire.OPT_ACCEPT_VERSION, 0) <= 1)
    taken = parse_get(data)
    assert (taken is not None) == expected
    if taken is not None:
        assert taken.path == "/" + "/".join(decoded.opt.uri_path)
        assert taken.query == tuple(decoded.opt.uri_query)


@given(st.binary(max_size=64))
@settings(max_examples=500, deadline=None)
def test_random_bytes_never_raise(data: bytes) -> None:
    taken = parse_get(data)
    if taken is not None:
        assert taken.mtype in (CON, NON) and len(taken.token) <= 8


def test_answers_decode_as_aiocoap_reads_them() -> None:
    options = bytes(Message(content_format=wire.CF_OCF_CBOR).opt.encode())
    con = LeanGet(CON, 0x0102, b"\xaa\xbb", "/switch", ())
    reply = Message.decode(answer(con, 0x7777, options, b"\xa0"))
    assert (reply.mtype, reply.mid, reply.token, reply.code) == (ACK, 0x0102, b"\xaa\xbb",
                                                                 Code.CONTENT)
    assert reply.opt.content_format == wire.CF_OCF_CBOR and reply.payload == b"\xa0"
    non = LeanGet(NON, 0x0102, b"", "/switch", ())
    reply = Message.decode(answer(non, 0x7777, options, b"\xa0"))
    assert (reply.mtype, reply.mid, reply.token) == (NON, 0x7777, b"")

