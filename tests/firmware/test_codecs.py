"""The firmware's CBOR and CoAP codecs under CPython, against cbor2 and aiocoap as peers.

``mp/codec_checks.py`` is the same suite that test_wasm.py runs under real MicroPython.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import cbor2
import pytest
from aiocoap import Message as AioMessage
from aiocoap.optiontypes import UintOption
from hypothesis import given, settings
from hypothesis import strategies as st
from ocf import cbor, coap

sys.path.insert(0, str(Path(__file__).parent / "mp"))
import codec_checks  # from mp/, on the path set just above

# aiocoap deprecates setting mid/type/token for its request API; the codec comparison needs them.
pytestmark = pytest.mark.filterwarnings("ignore:Initializing messages with:DeprecationWarning")

OCF_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64 - 1)
    | st.floats(allow_nan=False) | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=8) | st.integers(0, 100), inner, max_size=5),
    max_leaves=20,
)


@pytest.mark.parametrize("name", sorted(n for n in dir(codec_checks) if n.startswith("check_")))
def test_shared_codec_check(name: str) -> None:
    getattr(codec_checks, name)()


def test_shared_runner_counts_every_check() -> None:
    lines: list[str] = []
    passed, failed = codec_checks.run(lines.append)
    assert failed == 0, lines
    assert passed == len([n for n in dir(codec_checks) if n.startswith("check_")])


@settings(max_examples=300)
@given(OCF_VALUES)
def test_cbor_agrees_with_cbor2(value: Any) -> None:
    ours = cbor.encode(value)
    assert cbor2.loads(ours) == value
    assert cbor.decode(cbor2.dumps(value)) == value


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_cbor_decode_garbage_raises_only_valueerror(data: bytes) -> None:
    try:
        cbor.decode(data)
    except ValueError:
        pass


def test_cbor_nan_and_big_float() -> None:
    assert math.isnan(cbor2.loads(cbor.encode(float("nan"))))
    assert cbor2.loads(cbor.encode(1e300)) == 1e300


@settings(max_examples=200)
@given(
    mtype=st.integers(0, 3), code=st.integers(1, 4), mid=st.integers(0, 0xFFFF),
    token=st.binary(max_size=8), path=st.lists(st.text(min_size=1, max_size=300), max_size=3),
    accept=st.sampled_from([None, 0, 60, 10000]), version=st.integers(0, 0xFFFF),
    payload=st.binary(max_size=100),
)
def test_coap_agrees_with_aiocoap(
    mtype: int, code: int, mid: int, token: bytes, path: list[str], accept: int | None,
    version: int, payload: bytes,
) -> None:
    ref = AioMessage(mtype=mtype, code=code, mid=mid, token=token, uri_path=path,
                     payload=payload)
    if accept is not None:
        ref.opt.accept = accept
    ref.opt.add_option(UintOption(2049, version))
    wire = ref.encode()
    ours = coap.parse(wire)
    assert (ours.mtype, ours.code, ours.mid, ours.token) == (mtype, code, mid, token)
    assert ours.all(coap.URI_PATH) == [p.encode() for p in path]
    assert ours.get(coap.ACCEPT) == accept
    assert ours.get(coap.OCF_ACCEPT_VERSION) == version
    assert ours.payload == payload
    assert coap.build(ours) == wire
    back = AioMessage.decode(coap.build(ours))
    assert back.opt.uri_path == tuple(path) and back.payload == payload


@settings(max_examples=300)
@given(st.binary(max_size=48))
def test_coap_garbage_parses_or_raises_valueerror(data: bytes) -> None:
    try:
        coap.parse(data)
    except ValueError:
        reply = coap.reply_to_malformed(data)
        if reply is not None:
            AioMessage.decode(reply)  # whatever we answer is itself well formed
