"""The OCF client's requests to an endpoint that answered before carry the options aiocoap's
own URI parsing would give them (no socket: the messages are compared)."""

from __future__ import annotations

from aiocoap import GET, Message
from hypothesis import given
from hypothesis import strategies as st

from bridge.ocf.coap_client import _plain_path, request_uri
from bridge.ocf.links import Endpoint

ENDPOINTS = [Endpoint("coap", "192.168.1.20", 5683), Endpoint("coap", "fe80::1%eth0", 40000),
             Endpoint("coap", "2001:db8::5", 1), Endpoint("coap", "lamp.local", 5683),
             Endpoint("coap", "300.1.1.1", 5683), Endpoint("coap", "1.2.3", 5683)]
SEGMENT = st.text(alphabet="ab/%?#&=.-_ 2ü", max_size=6)


def _as_aiocoap_parses(ep: Endpoint, href: str, query: tuple[str, ...]) -> Message:
    return Message(code=GET, uri=request_uri(ep, href, query))


@given(st.sampled_from(ENDPOINTS), SEGMENT.map(lambda s: "/" + s) | SEGMENT,
       st.lists(SEGMENT, max_size=3).map(tuple))
def test_the_options_without_parsing_are_the_parsed_ones(ep: Endpoint, href: str,
                                                         query: tuple[str, ...]) -> None:
    path = _plain_path(ep, href, query)
    if path is None:
        return  # aiocoap parses this one's URI itself
    parsed = _as_aiocoap_parses(ep, href, query)
    direct = Message(code=GET, uri_path=path, uri_query=query)
    assert direct.opt.uri_host is None and parsed.opt.uri_host is None
    assert _encoded(direct) == _encoded(parsed)


def _encoded(message: Message) -> list[tuple[int, bytes]]:
    return [(int(option.number), option.encode()) for option in message.opt.option_list()]


def test_the_usual_requests_are_not_parsed_and_the_unusual_ones_are() -> None:
    v4, v6, name = ENDPOINTS[0], ENDPOINTS[1], ENDPOINTS[3]
    assert _plain_path(v4, "/oic/d", ()) == ["oic", "d"]
    assert _plain_path(v6, "/light/1", ("if=oic.if.a",)) == ["light", "1"]
    assert _plain_path(v4, "/", ()) == []
    # A host name gets a Uri-Host option, an escape is decoded, "&" splits a query item,
    # and aiocoap drops an empty query: all of those are left to aiocoap's parsing.
    assert _plain_path(name, "/oic/d", ()) is None
    assert _plain_path(ENDPOINTS[4], "/oic/d", ()) is None
    assert _plain_path(v4, "/a%20b", ()) is None
    assert _plain_path(v4, "/oic/res", ("rt=a&b",)) is None
    assert _plain_path(v4, "/oic/res", ("",)) is None
    assert _plain_path(v4, "oic/d", ()) is None
    assert _as_aiocoap_parses(name, "/oic/d", ()).opt.uri_host == "lamp.local"
