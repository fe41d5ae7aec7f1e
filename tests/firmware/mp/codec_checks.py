"""Codec checks that run unchanged under MicroPython (WebAssembly port) and CPython.

No pytest here: MicroPython has none. ``run()`` executes every ``check_*`` function, prints
``ok <name>`` or ``FAIL <name>: <error>`` per check and returns (passed, failed). The vectors
come from RFC 8949 Appendix A and RFC 7252; the OCF payloads are the shapes of
docs/protocol-notes.md. Imported with the firmware directory on sys.path (``import ocf.cbor``).
"""

from ocf import cbor, coap

H = bytes.fromhex

# (value, encoding) pairs from RFC 8949 Appendix A that the firmware must produce exactly.
ENCODE_VECTORS = [
    (0, "00"), (23, "17"), (24, "1818"), (100, "1864"), (1000, "1903e8"),
    (1000000, "1a000f4240"), (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"), (-1, "20"), (-1000, "3903e7"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (False, "f4"), (True, "f5"), (None, "f6"), ("", "60"), ("a", "6161"),
    ("IETF", "6449455446"), ("\u00fc", "62c3bc"), ("\u6c34", "63e6b0b4"),
    (b"", "40"), (b"\x01\x02\x03\x04", "4401020304"), ([], "80"), ([1, [2, 3], [4, 5]],
                                                                  "8301820203820405"),
    ({}, "a0"), ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (1.5, "fa3fc00000"), (100000.0, "fa47c35000"), (-4.0, "fac0800000"),
]

# Decoding-only vectors: half floats, tags, indefinite lengths.
DECODE_VECTORS = [
    ("f90000", 0.0), ("f93c00", 1.0), ("f93e00", 1.5), ("f97bff", 65504.0),
    ("f90001", 5.960464477539063e-08), ("f9c400", -4.0), ("fb3ff199999999999a", 1.1),
    ("c074323031332d30332d32315432303a30343a30305a", "2013-03-21T20:04:00Z"),
    ("5f42010243030405ff", b"\x01\x02\x03\x04\x05"), ("7f657374726561646d696e67ff", "streaming"),
    ("9f018202039f0405ffff", [1, [2, 3], [4, 5]]),
    ("bf61610161629f0203ffff", {"a": 1, "b": [2, 3]}),
]

MALFORMED_CBOR = [
    "", "18", "1a0000", "62c3", "82", "a1", "a16161", "ff", "1c", "5f01ff", "9f", "62c328",
    "8301", "00" + "00", "a18080", "f8", "fc",
    "81" * 40 + "00",  # nesting past MAX_DEPTH
    "9b00000000ffffffff",  # claims 4 billion elements in 9 bytes
]

OCF_PAYLOADS = [
    [{"anchor": "ocf://a4b5c6d7-0000-4000-8000-000000000001", "href": "/switch/1",
      "rt": ["oic.r.switch.binary"], "if": ["oic.if.a", "oic.if.baseline"], "p": {"bm": 3},
      "eps": [{"ep": "coap://[fe80::1%eth0]:49152"}]}],
    {"di": "a4b5c6d7-0000-4000-8000-000000000001", "piid": "c0ffee00-0000-4000-8000-0000000000aa",
     "n": "Lamp", "icv": "ocf.2.0.5", "dmv": "ocf.res.1.3.0,ocf.sh.1.3.0"},
    {"temperature": 21.5, "units": "C", "range": [-40.0, 125.0]},
    {"value": True}, {"brightness": 100}, {"hue": 359.5, "saturation": 32767},
    [{"rt": ["oic.wk.res"], "if": ["oic.if.ll", "oic.if.baseline"], "links": []}],
    {"vods": [{"n": "name", "di": "x", "econame": "AllJoyn"}]},
]


def check_cbor_encode_vectors():
    for value, hexed in ENCODE_VECTORS:
        got = cbor.encode(value)
        assert got == H(hexed), (value, got)
        assert cbor.decode(got) == value, value


def check_cbor_decode_vectors():
    for hexed, value in DECODE_VECTORS:
        assert cbor.decode(H(hexed)) == value, hexed


def check_cbor_special_floats():
    inf = cbor.decode(H("f97c00"))
    assert inf > 1e300 and cbor.decode(H("f9fc00")) < -1e300
    nan = cbor.decode(H("f97e00"))
    assert nan != nan
    assert cbor.decode(cbor.encode(1e300)) == 1e300 or cbor.encode(1e300)[0] == 0xFA


def check_cbor_malformed_raises_valueerror():
    for hexed in MALFORMED_CBOR:
        try:
            cbor.decode(H(hexed))
        except ValueError:
            continue
        raise AssertionError("accepted malformed " + hexed)


def check_cbor_unencodable():
    for bad in (object(), {1, 2}, 2 ** 64):
        try:
            cbor.encode(bad)
        except ValueError:
            continue
        raise AssertionError("encoded " + repr(bad))


def check_cbor_ocf_payload_round_trips():
    for payload in OCF_PAYLOADS:
        assert cbor.decode(cbor.encode(payload)) == payload, payload


def check_coap_build_known_bytes():
    # GET /oic/res?rt=oic.r.switch.binary, NON, mid 0x1234, token 0xab,
    # Accept 10000, OCF-Accept-Content-Format-Version 2048.
    msg = coap.Message(coap.NON, coap.GET, 0x1234, b"\xab")
    msg.add(coap.URI_PATH, "oic").add(coap.URI_PATH, "res")
    msg.add(coap.URI_QUERY, "rt=oic.r.switch.binary")
    msg.add(coap.ACCEPT, 10000).add(coap.OCF_ACCEPT_VERSION, 2048)
    expect = ("5101" "1234" "ab" "b3" "6f6963" "03" "726573"
              "4d09" "72743d6f69632e722e7377697463682e62696e617279"
              "22" "2710" "e206e3" "0800")
    got = coap.build(msg)
    assert got == H(expect), got
    back = coap.parse(got)
    assert back.path() == "/oic/res"
    assert back.queries() == [("rt", "oic.r.switch.binary")]
    assert back.get(coap.ACCEPT) == 10000
    assert back.get(coap.OCF_ACCEPT_VERSION) == 2048
    assert back.token == b"\xab" and back.mid == 0x1234 and back.mtype == coap.NON


def check_coap_response_round_trip():
    body = cbor.encode({"value": False})
    msg = coap.Message(coap.ACK, coap.CONTENT, 7, b"12345678", body)
    msg.add(coap.OCF_CONTENT_VERSION, 2048).add(coap.CONTENT_FORMAT, 10000)
    msg.add(coap.OBSERVE, 0x10203).add(coap.BLOCK2, coap.block_value(3, True, 6))
    back = coap.parse(coap.build(msg))
    assert [n for n, _ in back.options] == [6, 12, 23, 2053], back.options
    assert back.get(coap.OBSERVE) == 0x10203
    assert coap.block_parts(back.get(coap.BLOCK2)) == (3, True, 6)
    assert back.get(coap.OCF_CONTENT_VERSION) == 2048
    assert cbor.decode(back.payload) == {"value": False}
    assert coap.code_str(back.code) == "2.05"


def check_coap_long_options():
    msg = coap.Message(coap.CON, coap.POST, 1)
    msg.add(coap.URI_PATH, "x" * 300).add(coap.URI_QUERY, "y" * 20)
    back = coap.parse(coap.build(msg))
    assert back.path() == "/" + "x" * 300 and back.queries() == [("y" * 20, "")]


def check_coap_empty_value_option_is_zero():
    msg = coap.Message(coap.CON, coap.GET, 1, b"t").add(coap.OBSERVE, 0)
    raw = coap.build(msg)
    assert raw == H("4101" "0001" "74" "60"), raw
    assert coap.parse(raw).get(coap.OBSERVE) == 0


MALFORMED_COAP = [
    ("", None), ("40", None), ("400100", None),
    ("80010001", None),              # version 2
    ("49010001", "rst"),             # token length 9
    ("4201000174", "rst"),           # token shorter than announced
    ("41010001aaff", "bad"),         # payload marker without payload
    ("41010001aaf0", "bad"),         # option delta 15
    ("41010001aa0f", "bad"),         # option length 15
    ("41010001aad1", "bad"),         # extended delta missing
    ("41010001aa03ab", "bad"),       # option value truncated
    ("40000001ff00", "rst"),         # empty message with payload
    ("41000001aa", "rst"),           # empty message with token
    ("4120000100", "rst"),           # code class 1 reserved
    ("51010001aaf0", None),          # NON: never answered
]


def check_coap_malformed():
    for hexed, expect in MALFORMED_COAP:
        data = H(hexed)
        try:
            coap.parse(data)
        except ValueError:
            pass
        else:
            raise AssertionError("parsed malformed " + hexed)
        reply = coap.reply_to_malformed(data)
        if expect is None:
            assert reply is None, hexed
            continue
        back = coap.parse(reply)
        assert back.mid == 1, hexed
        if expect == "rst":
            assert back.mtype == coap.RST and back.code == 0, hexed
        else:
            assert back.mtype == coap.ACK and back.code == coap.BAD_REQUEST, hexed
            assert back.token == b"\xaa", hexed


def check_coap_random_garbage_never_crashes():
    seed = 12345
    for n in range(400):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        length = seed % 40
        data = bytearray()
        s = seed
        for _ in range(length):
            s = (s * 1103515245 + 12345) & 0x7FFFFFFF
            data.append((s >> 16) & 0xFF)
        if n % 2 and length:
            data[0] = 0x40 | (data[0] & 0x3F)
        try:
            coap.parse(bytes(data))
        except ValueError:
            coap.reply_to_malformed(bytes(data))
        try:
            cbor.decode(bytes(data))
        except ValueError:
            pass


def run(out=print):
    passed = 0
    failed = 0
    names = sorted(name for name in globals() if name.startswith("check_"))
    for name in names:
        try:
            globals()[name]()
            out("ok " + name)
            passed += 1
        except Exception as e:  # report every failing check, not just the first
            out("FAIL " + name + ": " + repr(e))
            failed += 1
    return passed, failed
