"""Virtual OCF devices of bridged Things, spoken to by a real aiocoap client over loopback.

Covers: /oic/res of the gateway (anchor, eps in the request's family), /oic/d with
oic.d.virtual, the vodlist, POSTs validated against the model before reaching the origin,
every bad-input answer, the answers chosen where the OCF specification leaves room (the table
of docs/ocf.md, row by row), observe notifications on state changes, 5.03 while unavailable,
the generic AllJoyn mapping (property groups, method, signal), and a real observe cancel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiocoap
import cbor2
import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import InvokeMethod, Registry, SetProperties
from bridge.core.thing import Side, Thing
from bridge.model.types import Catalogue
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.links import Endpoint
from bridge.ocf.virtual import VirtualOcfDevices
from bridge.sim.testing.procs import await_until, free_udp_port
from tests.ocf.coap import body, code, request
from tests.ocf.things import RecordingOrigin, alljoyn_lamp

WIDGET_RT = "x.org.example.-widget"


class Setup:
    def __init__(self, virtual: VirtualOcfDevices, thing: Thing, origin: RecordingOrigin,
                 ctx: Any, registry: Registry) -> None:
        self.virtual, self.thing, self.origin, self.ctx = virtual, thing, origin, ctx
        self.registry = registry

    @property
    def port(self) -> int:
        return self.virtual.virtuals[self.thing.id].endpoint.port

    def uri(self, path: str, host: str = "[::1]") -> str:
        return f"coap://{host}:{self.port}{path}"


@pytest.fixture
async def setup(registry: Registry, catalogue: Catalogue) -> AsyncIterator[Setup]:
    origin = RecordingOrigin()
    registry.register_handler(Side.ALLJOYN, origin)
    thing = registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))
    virtual = VirtualOcfDevices(registry, gateway_name="Test gateway", bind_host="::",
                                server_port=free_udp_port("::1"), multicast=[],
                                max_payload=1024)
    await virtual.start()
    await virtual.wait_idle()
    ctx = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        yield Setup(virtual, thing, origin, ctx, registry)
    finally:
        await ctx.shutdown()
        await virtual.shutdown()


async def test_gateway_lists_virtual_devices_with_eps_of_the_request_family(
        setup: Setup) -> None:
    gateway = setup.virtual.listener.port
    for host, expected in (("[::1]", f"coap://[::1]:{setup.port}"),
                           ("127.0.0.1", f"coap://127.0.0.1:{setup.port}")):
        links = body(await request(setup.ctx, "GET", f"coap://{host}:{gateway}/oic/res"))
        mine = [link for link in links if link["anchor"] == f"ocf://{setup.thing.identity.di}"]
        hrefs = {link["href"] for link in mine}
        assert {"/oic/d", "/oic/p", "/switch", "/brightness", "/temperature"} <= hrefs
        assert all(link["eps"] == [{"ep": expected}] for link in mine)
        switch = next(link for link in mine if link["href"] == "/switch")
        assert switch["rt"] == ["oic.r.switch.binary"] and switch["p"] == {"bm": 3}
        assert switch["if"] == ["oic.if.a", "oic.if.baseline"]
        bridge = [link for link in links if link["href"] == "/bridge/vodlist"]
        assert bridge and bridge[0]["rt"] == ["oic.r.vodlist"]
    vods = body(await request(setup.ctx, "GET", f"coap://[::1]:{gateway}/bridge/vodlist"))
    assert vods == {"vods": [{"n": "AJ Lamp", "di": setup.thing.identity.di,
                              "econame": "AllJoyn"}]}
    device = body(await request(setup.ctx, "GET",
                                f"coap://[::1]:{gateway}/oic/d?if=oic.if.baseline"))
    assert device["rt"] == ["oic.wk.d", "oic.d.bridge"] and device["n"] == "Test gateway"


async def test_virtual_device_and_platform(setup: Setup) -> None:
    device = body(await request(setup.ctx, "GET", setup.uri("/oic/d?if=oic.if.baseline")))
    assert device["rt"] == ["oic.wk.d", "oic.d.light", "oic.d.virtual"]
    assert device["di"] == setup.thing.identity.di
    assert device["piid"] == "deb82703-2778-5edf-ab22-105455bb4cfa"  # protocol-notes.md vector
    platform = body(await request(setup.ctx, "GET", setup.uri("/oic/p")))
    assert platform["pi"] == setup.thing.identity.pi
    assert platform["mnmn"] == "Example Corporat"  # cut to 16 characters


async def test_post_goes_to_the_origin_in_canonical_form(setup: Setup) -> None:
    answer = await request(setup.ctx, "POST", setup.uri("/switch"),
                           cbor2.dumps({"value": True}), content_format=10000)
    assert code(answer) == "2.04"
    assert body(answer) == {"value": True}
    assert setup.origin.commands == [SetProperties("switch", {"on": True})]
    assert body(await request(setup.ctx, "GET", setup.uri("/switch"))) == {"value": True}
    temperature = body(await request(setup.ctx, "GET",
                                     setup.uri("/temperature?if=oic.if.baseline")))
    assert temperature == {"rt": ["oic.r.temperature"], "if": ["oic.if.s", "oic.if.baseline"],
                           "units": "C", "temperature": 20.5}


BAD = [
    ("malformed CBOR", "POST", "/switch", b"\xa1\x65val", {}, "4.00"),
    ("not a map", "POST", "/switch", cbor2.dumps([1, 2]), {}, "4.00"),
    ("wrong type", "POST", "/switch", cbor2.dumps({"value": 3}), {}, "4.00"),
    ("only unknown properties", "POST", "/switch", cbor2.dumps({"colour": 1}), {}, "4.00"),
    ("out of range", "POST", "/brightness", cbor2.dumps({"brightness": 101}), {}, "4.00"),
    ("sensor interface", "POST", "/temperature", cbor2.dumps({"temperature": 3}), {}, "4.03"),
    ("read-only resource", "POST", "/temperature?if=oic.if.baseline",
     cbor2.dumps({"temperature": 3}), {}, "4.05"),
    ("interface not offered", "POST", "/switch?if=oic.if.s", cbor2.dumps({"value": True}), {},
     "4.03"),
    ("read-only interface", "POST", "/oic/d", cbor2.dumps({"n": "x"}), {}, "4.03"),
    ("unknown path", "GET", "/nothing", b"", {}, "4.04"),
    ("oversize payload", "POST", "/switch", cbor2.dumps({"value": "x" * 1500}), {}, "4.13"),
    ("accept 60", "GET", "/switch", b"", {"accept": 60}, "4.06"),
    ("accept json", "GET", "/switch", b"", {"accept": 50}, "4.06"),
    ("format 60 POST", "POST", "/switch", cbor2.dumps({"value": True}),
     {"content_format": 60}, "4.15"),
    ("unknown interface", "GET", "/switch?if=oic.if.x", b"", {}, "4.03"),
    ("DELETE", "DELETE", "/switch", b"", {}, "4.05"),
]


@pytest.mark.parametrize(("what", "method", "path", "payload", "options", "expected"), BAD,
                         ids=[case[0] for case in BAD])
async def test_bad_input_is_answered_and_never_reaches_the_device(
        setup: Setup, what: str, method: str, path: str, payload: bytes,
        options: dict[str, int], expected: str) -> None:
    answer = await request(setup.ctx, method, setup.uri(path), payload, **options)
    assert code(answer) == expected, what
    if expected != "4.04":
        assert answer.payload, "a diagnostic payload says what was wrong"
    assert setup.origin.commands == []
    # the server keeps running
    assert body(await request(setup.ctx, "GET", setup.uri("/switch"))) == {"value": False}


# The rows of the docs/ocf.md table "Answers where the specification leaves room".

async def test_unknown_property_beside_a_known_one_is_ignored_and_the_rest_applied(
        setup: Setup) -> None:
    answer = await request(setup.ctx, "POST", setup.uri("/switch"),
                           cbor2.dumps({"value": True, "colour": 1}), content_format=10000)
    assert code(answer) == "2.04"
    assert body(answer) == {"value": True}  # the representation shows what was kept
    assert setup.origin.commands == [SetProperties("switch", {"on": True})]


async def test_a_post_of_only_unknown_properties_is_refused_not_lost(setup: Setup) -> None:
    answer = await request(setup.ctx, "POST", setup.uri("/switch"),
                           cbor2.dumps({"vaule": True}), content_format=10000)
    assert code(answer) == "4.00"
    assert b"'vaule'" in answer.payload and b"value" in answer.payload
    assert setup.origin.commands == []


@pytest.mark.parametrize("payload", [b"", cbor2.dumps({})], ids=["no payload", "empty map"])
async def test_an_empty_post_changes_nothing_and_answers_the_representation(
        setup: Setup, payload: bytes) -> None:
    answer = await request(setup.ctx, "POST", setup.uri("/brightness"), payload,
                           content_format=10000)
    assert code(answer) == "2.04"
    assert body(answer) == {"brightness": 40}
    assert setup.origin.commands == []


async def test_an_empty_post_to_a_method_resource_is_a_call_without_arguments(
        setup: Setup) -> None:
    # Pulse takes a Level: the call is made, and the registry refuses the missing argument.
    answer = await request(setup.ctx, "POST",
                           setup.uri(f"/widget/main/{WIDGET_RT}.Pulse"), b"",
                           content_format=10000)
    assert code(answer) == "4.00"
    assert b"Level" in answer.payload
    assert setup.origin.commands == []


async def test_truncated_cbor_is_a_bad_request_that_says_so(setup: Setup) -> None:
    whole = cbor2.dumps({"value": True})
    answer = await request(setup.ctx, "POST", setup.uri("/switch"), whole[:-1],
                           content_format=10000)
    assert code(answer) == "4.00"
    assert b"truncated" in answer.payload
    assert setup.origin.commands == []


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/switch?if=oic.if.s"), ("GET", "/temperature?if=oic.if.a"),
    ("GET", "/oic/d?if=oic.if.rw"), ("POST", "/brightness?if=oic.if.r")])
async def test_an_interface_the_resource_does_not_offer_is_forbidden(
        setup: Setup, method: str, path: str) -> None:
    payload = cbor2.dumps({"brightness": 1}) if method == "POST" else b""
    answer = await request(setup.ctx, method, setup.uri(path), payload, content_format=10000)
    assert code(answer) == "4.03"
    assert b"has no interface" in answer.payload
    assert setup.origin.commands == []


@pytest.mark.parametrize("path", ["/oic/d", "/oic/p"])
async def test_a_post_to_the_device_or_platform_resource_is_forbidden(
        setup: Setup, path: str) -> None:
    before = body(await request(setup.ctx, "GET", setup.uri(path)))
    answer = await request(setup.ctx, "POST", setup.uri(path), cbor2.dumps({"n": "Renamed"}),
                           content_format=10000)
    assert code(answer) == "4.03"
    assert b"oic.if.r" in answer.payload
    assert body(await request(setup.ctx, "GET", setup.uri(path))) == before


async def test_the_gateway_listing_forbids_an_interface_it_does_not_offer(
        setup: Setup) -> None:
    gateway = setup.virtual.listener.port
    answer = await request(setup.ctx, "GET", f"coap://[::1]:{gateway}/oic/res?if=oic.if.a")
    assert code(answer) == "4.03"


async def test_observers_see_every_state_change_and_unavailability(setup: Setup) -> None:
    message = aiocoap.Message(code=aiocoap.GET, uri=setup.uri("/brightness"), observe=0)
    req = setup.ctx.request(message)
    first = await req.response
    assert cbor2.loads(first.payload) == {"brightness": 40}
    notifications = req.observation.__aiter__()
    setup.registry.update_state(setup.thing.id, "brightness", {"brightness": 70})
    assert cbor2.loads((await notifications.__anext__()).payload) == {"brightness": 70}
    setup.registry.update_state(setup.thing.id, "brightness", {"brightness": 71})
    assert cbor2.loads((await notifications.__anext__()).payload) == {"brightness": 71}
    setup.registry.set_available(setup.thing.id, False, "test")
    # the 5.03 notification ends the observation (an unsuccessful code always does)
    last = await notifications.__anext__()
    assert last.code.dotted == "5.03" and last.payload
    with pytest.raises(StopAsyncIteration):
        await notifications.__anext__()
    assert code(await request(setup.ctx, "GET", setup.uri("/switch"))) == "5.03"


async def test_a_burst_of_state_changes_reaches_the_observer_complete_and_in_order(
        setup: Setup) -> None:
    message = aiocoap.Message(code=aiocoap.GET, uri=setup.uri("/brightness"), observe=0)
    req = setup.ctx.request(message)
    assert cbor2.loads((await req.response).payload) == {"brightness": 40}
    # 2,000 changes in one go, as from one read of many D-Bus signals: no await in between.
    burst = [i % 101 for i in range(41, 2041)]
    for value in burst:
        setup.registry.update_state(setup.thing.id, "brightness", {"brightness": value})
    seen: list[int] = []
    async with asyncio.timeout(60):  # guards against a hang only; no timing is asserted
        async for notification in req.observation:
            assert notification.opt.content_format == 10000
            seen.append(cbor2.loads(notification.payload)["brightness"])
            if len(seen) == len(burst):
                break
    assert seen == burst
    endpoint = setup.virtual.virtuals[setup.thing.id].endpoint
    assert endpoint.notifications_dropped == 0 and endpoint.notifications_queued == 0


async def test_generic_alljoyn_interface_crosses_by_the_generic_rules(setup: Setup) -> None:
    base = "/widget/main"
    rw = body(await request(setup.ctx, "GET",
                            setup.uri(f"{base}/{WIDGET_RT}.true?if=oic.if.baseline")))
    assert rw == {"rt": [f"{WIDGET_RT}.true"], "if": ["oic.if.rw", "oic.if.baseline"],
                  "Level": 3}
    const = body(await request(setup.ctx, "GET", setup.uri(f"{base}/{WIDGET_RT}.const")))
    assert const == {"Serial_Number": "A-1"}
    answer = await request(setup.ctx, "POST", setup.uri(f"{base}/{WIDGET_RT}.true"),
                           cbor2.dumps({"Level": 9}), content_format=10000)
    assert code(answer) == "2.04"
    answer = await request(setup.ctx, "POST", setup.uri(f"{base}/{WIDGET_RT}.Pulse"),
                           cbor2.dumps({"Level": 5}), content_format=10000)
    assert body(answer) == {"Result": "did 5"}
    assert setup.origin.commands == [SetProperties("widget", {"Level": 9}),
                                     InvokeMethod("widget", "Pulse", {"Level": 5})]
    ro = await request(setup.ctx, "POST", setup.uri(f"{base}/{WIDGET_RT}.const"),
                       cbor2.dumps({"Serial_Number": "B"}), content_format=10000)
    assert code(ro) == "4.03"  # its only interfaces, oic.if.r and baseline, allow no update
    ro = await request(setup.ctx, "POST", setup.uri(f"{base}/{WIDGET_RT}.const?if=oic.if.baseline"),
                       cbor2.dumps({"Serial_Number": "B"}), content_format=10000)
    assert code(ro) == "4.05"
    message = aiocoap.Message(code=aiocoap.GET, uri=setup.uri(f"{base}/{WIDGET_RT}.Alarm"),
                              observe=0)
    req = setup.ctx.request(message)
    assert cbor2.loads((await req.response).payload) == {}
    setup.registry.emit_signal(setup.thing.id, "widget", "Alarm", {"Code": 7})
    notification = await req.observation.__aiter__().__anext__()
    assert cbor2.loads(notification.payload) == {"Code": 7}


async def test_cancelling_an_observation_deregisters_at_the_server(setup: Setup) -> None:
    client = OcfClient(timeout=2.0, max_payload=4096)
    await client.start()
    try:
        endpoint = setup.virtual.virtuals[setup.thing.id].endpoint
        values: list[Any] = []
        observation = client.observe(Endpoint("coap", "::1", setup.port), "/switch",
                                     values.append, lambda reason: values.append(reason))
        await await_until(lambda: endpoint.observer_count == 1)
        assert values == [{"value": False}]
        await client.deregister(observation)
        # No notification was sent meanwhile: only the GET with Observe=1 can have ended it.
        assert endpoint.observer_count == 0
    finally:
        await client.shutdown()
