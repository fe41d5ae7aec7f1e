"""Pure OCF codecs: payload shapes, endpoints, version options, the mapping (no sockets)."""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.errors import ReadOnly, UnknownProperty
from bridge.model.types import Catalogue
from bridge.ocf import wire
from bridge.ocf.info import device_info, parse_device
from bridge.ocf.links import Endpoint, parse_endpoint, parse_res, select_endpoint
from bridge.ocf.mapping import (
    build_capabilities,
    generic_interface,
    model_representation,
    model_state,
    model_write,
)
from bridge.ocf.served import Request, handle_res

SOURCE = Endpoint("coap", "fe80::7%eth0", 40000)
LL_LINK = {"anchor": "ocf://d1", "href": "/light/1", "rt": ["oic.r.switch.binary"],
           "if": ["oic.if.a", "oic.if.baseline"], "p": {"bm": 3},
           "eps": [{"ep": "coap://[fe80::1]:49152"}, {"ep": "coaps://[fe80::1]:49153"}]}


def test_version_option_values() -> None:
    assert wire.version_value(1, 0, 0) == 2048 == wire.OCF_1_0
    assert wire.version_text(2112) == "1.1.0"


def test_ll_baseline_and_oic11_shapes_give_the_same_links() -> None:
    ll = parse_res([LL_LINK], SOURCE)
    baseline = parse_res([{"rt": ["oic.wk.res"], "if": ["oic.if.ll"], "links": [LL_LINK]}],
                         SOURCE)
    assert ll == baseline
    [link] = ll
    assert link.di == "d1" and link.observable and not link.secure_only
    oic11 = parse_res([{"di": "d2", "links": [{"href": "/a", "rt": "oic.r.switch.binary",
                                              "if": "oic.if.a oic.if.baseline",
                                              "p": {"bm": 1, "sec": False}}]}], SOURCE)
    assert oic11[0].di == "d2" and oic11[0].rts == ("oic.r.switch.binary",)
    assert oic11[0].ifs == ("oic.if.a", "oic.if.baseline") and oic11[0].eps == (SOURCE,)
    secure = parse_res([{"di": "d3", "links": [{"href": "/b", "p": {"sec": True,
                                                                    "port": 5690}}]}], SOURCE)
    assert secure[0].secure_only and secure[0].eps[0].port == 5690


def test_zone_ids_survive_and_link_local_endpoints_get_the_arrival_interface() -> None:
    ep = parse_endpoint("coap://[fe80::1%eth0]:49152")
    assert ep == Endpoint("coap", "fe80::1%eth0", 49152) and ep.uri == "coap://[fe80::1%eth0]:49152"
    [link] = parse_res([LL_LINK], SOURCE)
    chosen = select_endpoint(link.eps, zone="ocfbr0")
    assert chosen == Endpoint("coap", "fe80::1%ocfbr0", 49152)
    assert select_endpoint(link.eps) is None  # no zone known: unusable
    assert select_endpoint([Endpoint("coaps", "10.0.0.1", 5684)], zone="x") is None
    both = [Endpoint("coap", "169.254.0.2", 1), Endpoint("coap", "fd00::2", 2)]
    # IPv6 first, whatever the order; the endpoint in use stays while it is offered
    assert select_endpoint(both) == both[1] == select_endpoint(list(reversed(both)))
    assert select_endpoint(both, current=both[0]) == both[0]
    assert select_endpoint(both, current=Endpoint("coap", "169.254.9.9", 1)) == both[1]
    assert parse_endpoint("coap://host:99999") is None and parse_endpoint(3) is None


def test_malformed_cbor_and_non_plain_items_are_payload_errors() -> None:
    for bad in (b"\xa1\x65val", cbor2.dumps(float("nan")), cbor2.dumps({1: 2}),
                cbor2.dumps(cbor2.CBORTag(99, 1))):
        with pytest.raises(wire.PayloadError):
            wire.decode(bad)
    with pytest.raises(wire.PayloadError):
        wire.decode_map(cbor2.dumps([1]))


_CBOR_ITEMS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.binary(max_size=8) | st.just(cbor2.undefined)
    | st.builds(cbor2.CBORTag, st.integers(40000, 40010), st.integers()),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=4),
    max_leaves=20)


def _plain_or_error(value: object) -> object:
    try:
        return wire._plain(value, 0)
    except wire.PayloadError as err:
        return ("error", str(err))


def _decoded_and_copied(payload: bytes) -> tuple[object, object]:
    """What ``wire.decode`` gives for ``payload`` (or its error) beside the plain copy's."""
    expected = _plain_or_error(cbor2.loads(payload))
    try:
        got: object = wire.decode(payload)
    except wire.PayloadError as err:
        got = ("error", str(err))
    return got, expected

@given(_CBOR_ITEMS)
def test_a_decoded_payload_is_checked_in_place_as_the_plain_copy_would_be(value: object
                                                                          ) -> None:
    got, expected = _decoded_and_copied(cbor2.dumps(value))
    assert repr(got) == repr(expected)  # NaN != NaN; the errors name the same item


def test_nesting_is_refused_past_32_levels_in_place_as_in_the_copy() -> None:
    for leaf in (1, "x", None, 1.5, b"b", [], {}):
        for depth in (30, 31, 32, 33, 34):
            value: object = leaf
            for level in range(depth):
                value = [value] if level % 2 else {"k": value}
            got, expected = _decoded_and_copied(cbor2.dumps(value))
            assert got == expected, (leaf, depth)
    assert _plain_or_error(cbor2.loads(cbor2.dumps([[[]]] * 2))) == [[[]]] * 2


def test_a_decoded_listing_is_the_decoder_s_own_object(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    listing = [dict(LL_LINK, href=f"/light/{k}") for k in range(50)]
    payload = cbor2.dumps(listing)

    class Decoder:
        def __init__(self, data: io.BytesIO) -> None:
            self.data = data

        def decode(self) -> object:
            self.data.read()
            return listing

    monkeypatch.setattr(wire.cbor2, "CBORDecoder", Decoder)
    assert wire.decode(payload) is listing  # checked, not copied


def test_device_and_platform_facts() -> None:
    facts = parse_device({"di": "d", "piid": "p", "n": "Lamp", "rt": ["oic.wk.d", "oic.d.light",
                                                                      "oic.d.virtual"],
                          "ld": [{"language": "en", "value": "A lamp"}]})
    assert facts.virtual and facts.device_types == ("oic.d.light", "oic.d.virtual")
    info = device_info(facts, {"pi": "x", "mnmn": "ACME", "mnmo": "L1", "mnos": "Linux"})
    assert (info.name, info.manufacturer, info.model, info.description) == (
        "Lamp", "ACME", "L1", "A lamp")
    assert info.extra["p.mnos"] == "Linux"


def test_semantic_mapping_round_trip(catalogue: Catalogue) -> None:
    colour = catalogue.capability("colour")
    assert colour is not None
    rep = model_representation(colour, {"hue": 120.0, "saturation": 50})
    assert rep == {"hue": 120.0, "saturation": 16384}
    assert model_state(colour, rep) == {"hue": 120.0, "saturation": 50}
    target = catalogue.capability("target_temperature")
    assert target is not None
    assert model_write(target, {"temperature": 68.0, "units": "F"}) == {
        "target_temperature": 20.0}
    with pytest.raises(ReadOnly):
        model_write(target, {"range": [1, 2]})
    with pytest.raises(UnknownProperty):
        model_write(target, {"colour": 1})


def test_uncovered_resources_become_generic_capabilities(catalogue: Catalogue) -> None:
    links = parse_res([LL_LINK, {"anchor": "ocf://d1", "href": "/w", "rt": ["x.com.example.-w"],
                                 "if": ["oic.if.rw"], "p": {"bm": 1}},
                       {"anchor": "ocf://d1", "href": "/o", "rt": ["oic.r.odd"],
                        "if": ["oic.if.r"]}], SOURCE)
    caps = build_capabilities(links, catalogue, {
        "/light/1": {"value": True}, "/w": {"a": 1, "b": [1], "c": {"d": 1.5}, "rt": ["x"]},
        "/o": {"s": "t"}})
    assert caps["switch"].state == {"on": True}
    generic = caps["x_com_example_w"].generic
    assert generic is not None and generic.interface == "com.example.W"
    assert [(p.name, p.signature, p.access) for p in generic.properties] == [
        ("a", "x", "rw"), ("b", "av", "rw"), ("c", "a{sv}", "rw")]
    odd = caps["oic_r_odd"].generic
    assert odd is not None and odd.interface == "oic.r.odd" and odd.properties[0].access == "r"
    assert generic_interface("oic.r.my-x") == "oic.r.myX"


def test_multicast_discovery_stays_silent_when_a_filter_matches_nothing() -> None:
    request = Request("GET", "/oic/res", query=("rt=oic.r.nothing",), multicast=True)
    assert handle_res([], request).silent
    assert not handle_res([], Request("GET", "/oic/res")).silent


@pytest.mark.parametrize("number", [201, 204, 205, 400, 401, 403, 404, 405, 406, 413, 415, 500,
                                    502, 503, 504])
def test_status_numbers_of_every_aiocoap_code(number: int) -> None:
    from aiocoap.numbers.codes import Code

    from bridge.ocf.coap_messages import code_of, status_number
    assert status_number(code_of(number)) == number
    assert status_number(Code(number // 100 * 32 + number % 100)) == number


def test_a_discovery_reply_is_decoded_once_however_often_its_links_are_asked_for(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.ocf.discovery import DiscoveryReply

    decoded: list[bytes] = []
    real = wire.decode

    def counting(payload: bytes) -> object:
        decoded.append(payload)
        return real(payload)

    monkeypatch.setattr(wire, "decode", counting)
    reply = DiscoveryReply(payload=cbor2.dumps([LL_LINK]), content_format=wire.CF_OCF_CBOR,
                           source=SOURCE, interface="eth0")
    first = reply.links()
    assert [link.href for link in first] == ["/light/1"] and reply.links() is first
    bad = DiscoveryReply(payload=b"\xa1\x65val", content_format=None, source=SOURCE,
                         interface="eth0")
    for _ in range(2):
        with pytest.raises(wire.PayloadError):
            bad.links()
    assert len(decoded) == 2 and reply == DiscoveryReply(
        payload=reply.payload, content_format=wire.CF_OCF_CBOR, source=SOURCE, interface="eth0")
def _reference_plain(value: object, depth: int = 0) -> object:
    """What ``wire.decode`` accepted before its checks by exact type: plain data by
    ``isinstance``, at most 32 levels deep."""
    if depth > 32:
        raise wire.PayloadError("CBOR payload nested too deeply")
    if value is None or isinstance(value, bool | int | str | bytes):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise wire.PayloadError(f"non-finite number {value!r} in payload")
        return value
    if isinstance(value, list | tuple):
        return [_reference_plain(item, depth + 1) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise wire.PayloadError(f"map key {key!r} is not a text string")
            out[key] = _reference_plain(item, depth + 1)
        return out
    raise wire.PayloadError(f"unsupported CBOR item {type(value).__name__} in payload")


def _outcome(check: Callable[[object, int], object], value: object) -> tuple[str, str]:
    try:
        return "value", repr(check(value, 0))
    except wire.PayloadError as err:
        return "error", str(err)


def _nested(levels: int, leaf: object, kind: str) -> object:
    for _ in range(levels):
        leaf = [leaf] if kind == "list" else {"k": leaf}
    return leaf


def _random_item(rnd: random.Random, depth: int = 0) -> object:
    roll = rnd.random()
    if depth > 4 or roll < 0.4:
        return rnd.choice([1, -3, 2.5, math.inf, math.nan, "x", b"y", None, True, 10**30,
                           cbor2.undefined, cbor2.CBORSimpleValue(3), cbor2.CBORTag(1, 2),
                           (1, "a")])
    if roll < 0.7:
        return [_random_item(rnd, depth + 1) for _ in range(rnd.randrange(4))]
    return {rnd.choice(["a", "b", "c", 1, (1,)]): _random_item(rnd, depth + 1)
            for _ in range(rnd.randrange(4))}


def test_the_checks_by_exact_type_accept_and_refuse_what_isinstance_checks_do() -> None:
    rnd = random.Random(18)
    cases: list[object] = [{"temperature": 21.5, "rt": ["oic.r.temperature"], "units": "C"},
                           {"a": math.nan, 1: 2}, {"a": {1: 2}}, frozenset([1]), [], {}]
    cases += [_nested(n, leaf, kind) for n in range(29, 35) for leaf in (1, 1.5, [], {})
              for kind in ("list", "dict")]
    cases += [_random_item(rnd) for _ in range(5000)]
    outcomes = [(_outcome(lambda value, _: wire._checked(value), case),
                 _outcome(_reference_plain, case))
                for case in cases]
    assert [case for case, (got, want) in zip(cases, outcomes, strict=True)
            if got != want] == []
    # Both kinds of answer were exercised.
    assert {got[0] for got, _ in outcomes} == {"value", "error"}
    payload = cbor2.dumps({"temperature": 21.5, "rt": ["oic.r.temperature"]})
    assert wire.decode(payload) == {"temperature": 21.5, "rt": ["oic.r.temperature"]}
