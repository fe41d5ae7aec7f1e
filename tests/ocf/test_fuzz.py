"""Hypothesis feeds random and mutated CBOR to every request handler and to the /oic/res parser.

Every answer must be a clean CoAP status (never an exception, never a 5.xx), anything but a
success must leave the origin device untouched, and a success must carry a command the model
accepts. The number of cases that ran is printed (``pytest -s``) and asserted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import cbor2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Side
from bridge.model.types import Catalogue
from bridge.ocf import wire
from bridge.ocf.links import Endpoint, parse_res
from bridge.ocf.served import Request, handle
from bridge.ocf.virtual_resources import build_layout
from bridge.sim.device import SimDevice
from bridge.sim.ocf import OcfSimServer
from tests.ocf.things import RecordingOrigin, alljoyn_lamp

leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
                   st.binary(max_size=20))
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), inner, max_size=4)),
    max_leaves=12)
VALID = [cbor2.dumps(v) for v in ({"value": True}, {"brightness": 50}, {"Level": 2},
                                  {"hue": 10.0, "saturation": 50}, {"lockState": "Locked"},
                                  [{"href": "/a", "rt": ["x.y"], "anchor": "ocf://d"}])]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(data) - 1))
        data[index] = draw(st.integers(0, 255))
    return bytes(data)


def _encode(value: Any) -> bytes:
    try:
        return bytes(cbor2.dumps(value))
    except Exception:
        return b"\xff"


payloads = st.one_of(st.binary(max_size=200), values.map(_encode), mutated())


def test_every_handler_survives_random_and_mutated_cbor(registry: Registry,
                                                       catalogue: Catalogue) -> None:
    origin = RecordingOrigin()
    registry.register_handler(Side.ALLJOYN, origin)
    thing = registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))

    async def command(cmd: Any) -> Any:
        return await registry.command(thing.id, cmd, Side.OCF)

    def state_of(key: str) -> Any:
        return thing.capabilities[key].state

    virtual = build_layout(thing, state_of, command).device
    sims = [OcfSimServer(SimDevice.of_type(kind, catalogue, kind)).served
            for kind in ("light", "thermostat", "smartlock", "sensor")]
    targets = [(dev, href) for dev in (virtual, *sims)
               for href in [*dev.resources, "/oic/d", "/oic/p"]]
    cases = 0

    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
    @given(target=st.sampled_from(targets), payload=payloads,
           method=st.sampled_from(["POST", "POST", "GET"]))
    def run(target: Any, payload: bytes, method: str) -> None:
        nonlocal cases
        cases += 1
        device, href = target
        before = len(origin.commands)
        reply = asyncio.run(handle(device, Request(method, href, payload=payload,
                                                    content_format=wire.CF_OCF_CBOR)))
        assert 200 <= reply.code < 500, reply
        if not reply.success:
            assert reply.diagnostic
            assert len(origin.commands) == before
        wire.encode(reply.body)

    run()
    print(f"\nfuzzed request handlers: {cases} cases")
    assert cases >= 1000


def test_res_parser_survives_random_and_mutated_cbor() -> None:
    cases = 0

    @settings(max_examples=1500, deadline=None)
    @given(payload=payloads)
    def run(payload: bytes) -> None:
        nonlocal cases
        cases += 1
        try:
            value = wire.decode(payload)
        except wire.PayloadError:
            return
        for link in parse_res(value, Endpoint("coap", "fe80::1%eth0", 5683)):
            assert link.href.startswith("/") and link.di

    run()
    print(f"\nfuzzed /oic/res parser: {cases} cases")
    assert cases >= 1000
