"""The OCF side with a keyring: a secured device is listed as not bridgeable until the
gateway holds its key, then read, observed and commanded over coaps; the secured simulated
device's listing (coaps eps, secured resources coaps only, di = deviceuuid). Loopback, real
UDP and DTLS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from bridge.core.errors import DeviceError
from bridge.core.events import EventBus, StateChanged
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.ocf import onboarding, svr
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.devices import SECURE_ONLY, OcfDevices, Sighting
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import Endpoint, parse_endpoint, parse_res, select_endpoint
from bridge.sim.device import SimDevice
from bridge.sim.ocf import SimListing
from bridge.sim.ocf_secure import SecureOcfSimServer

GATEWAY = uuid.UUID(bytes=bytes(range(0xA1, 0xB1)))


def ep(uri: str) -> Endpoint:
    endpoint = parse_endpoint(uri)
    assert endpoint is not None
    return endpoint


def test_secure_choice_follows_the_plain_rule_and_leaves_it_unchanged() -> None:
    eps = [ep("coaps://10.0.0.2:5684"), ep("coap://10.0.0.2:5683"),
           ep("coaps://[fd00::2]:6000"), ep("coap://[fd00::2]:6001"),
           ep("coaps://[fe80::2]:6002")]
    assert select_endpoint(eps) == ep("coap://[fd00::2]:6001")
    assert select_endpoint(eps, secure=True) == ep("coaps://[fd00::2]:6000")
    assert select_endpoint(eps, secure=True, current=ep("coaps://10.0.0.2:5684")) \
        == ep("coaps://10.0.0.2:5684")
    # a link-local coaps endpoint gets the zone of the interface the reply came in on
    assert select_endpoint(eps[4:], zone="eth0", secure=True) == ep("coaps://[fe80::2%eth0]:6002")
    assert select_endpoint([ep("coap://10.0.0.2:5683")], secure=True) is None
    assert select_endpoint([ep("coaps://10.0.0.2:5684")]) is None


@pytest.fixture
async def lamp(catalogue: Catalogue) -> AsyncIterator[SecureOcfSimServer]:
    server = SecureOcfSimServer(SimDevice.of_type("Porch", catalogue, "light"),
                                SimListing(multicast=False), bind_host="::1")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def plain() -> AsyncIterator[OcfClient]:
    client = OcfClient(5.0, 65536)
    await client.start()
    yield client
    await client.shutdown()


async def sighting(plain: OcfClient, port: int) -> tuple[str, Sighting]:
    source = ep(f"coap://[::1]:{port}")
    links = parse_res(await plain.get(source, "/oic/res"), source)
    (di,) = {link.di for link in links}
    return di, Sighting(links, source)


async def test_listing_names_coaps_and_di_is_the_device_uuid(
        lamp: SecureOcfSimServer, plain: OcfClient) -> None:
    di, seen = await sighting(plain, lamp.port)
    assert di == str(lamp.security.device)
    by_href = {link.href: link for link in seen.links}
    assert {e.scheme for e in by_href["/oic/d"].eps} == {"coap", "coaps"}
    switch = by_href[lamp.hrefs["switch"]]
    assert switch.secure_only and switch.eps[0].port == lamp.endpoint.coaps_port  # type: ignore[union-attr]
    assert (await plain.get(seen.source, "/oic/d"))["di"] == di


async def test_bridged_over_coaps_only_with_a_key(
        lamp: SecureOcfSimServer, plain: OcfClient, catalogue: Catalogue) -> None:
    registry = Registry(EventBus())
    keyring = Keyring(GATEWAY)
    client = OcfClient(3.0, 65536, keyring=keyring)
    await client.start()
    devices = OcfDevices(registry, catalogue, IdentityBook(), client, missed_rounds=2,
                         observe=True, is_own=lambda _di: False, owned=keyring.holds)
    try:
        di, seen = await sighting(plain, lamp.port)
        await devices.update({di: seen})
        (thing,) = list(registry)
        # identified by its plaintext /oic/d, nothing else asked in plaintext
        assert thing.not_bridgeable == SECURE_ONLY and thing.info.name == "Porch"
        assert not devices.by_di[di].healthy

        secure = next(e for link in seen.links for e in link.eps if e.secure)
        grants = {href: onboarding.permission_for(("oic.if.a", "oic.if.baseline"))
                  for href in lamp.hrefs.values()}
        owned = await onboarding.take_ownership(seen.source, secure, lamp.endpoint.pin,  # type: ignore[union-attr]
                                                GATEWAY, grants, request_timeout=5.0)
        keyring.set(owned.uuid, owned.key)
        new_di, seen = await sighting(plain, lamp.port)
        assert new_di == str(owned.uuid) != di
        await devices.update({new_di: seen})
        (thing,) = list(registry)  # the same Thing, now bridgeable
        assert thing.not_bridgeable == "" and thing.available
        record = devices.by_di[new_di]
        assert record.endpoint is not None and record.endpoint.scheme == "coaps"
        assert di not in devices.by_di
        # observed over coaps: a change at the device arrives
        switch = next(k for k, c in thing.capabilities.items() if c.model_id == "switch")
        switched_on = asyncio.Event()
        registry.bus.subscribe("test", lambda event: switched_on.set() if isinstance(
            event, StateChanged) and event.values.get("on") is True else None)
        lamp.device.set("switch", {"on": True})
        async with asyncio.timeout(10):
            await switched_on.wait()
        assert thing.capabilities[switch].state["on"] is True
        # a command goes over coaps too
        await client.post(record.endpoint, lamp.hrefs["switch"], {"value": False})
        assert lamp.device.state["switch"]["on"] is False
        with pytest.raises(DeviceError) as refused:
            await plain.get(seen.source, lamp.hrefs["switch"])
        assert refused.value.code == 401

        # given back: the key goes, the device is not bridgeable again, same Thing
        await onboarding.offboard(record.endpoint, GATEWAY, owned.uuid, owned.key,
                                  request_timeout=5.0)
        keyring.remove(owned.uuid)
        reset_di, seen = await sighting(plain, lamp.port)
        await devices.update({reset_di: seen})
        (thing,) = list(registry)
        assert thing.not_bridgeable == SECURE_ONLY and set(devices.by_di) == {reset_di}
    finally:
        await devices.shutdown()
        await client.shutdown()


async def test_a_reset_by_the_user_drops_the_credential(
        lamp: SecureOcfSimServer, plain: OcfClient, catalogue: Catalogue,
        caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry(EventBus())
    keyring = Keyring(GATEWAY)
    forgotten: list[str] = []
    client = OcfClient(3.0, 65536, keyring=keyring)
    await client.start()
    devices = OcfDevices(registry, catalogue, IdentityBook(), client, missed_rounds=2,
                         observe=True, is_own=lambda _di: False, owned=keyring.holds,
                         forget_key=forgotten.append)
    try:
        _, seen = await sighting(plain, lamp.port)
        secure = next(e for link in seen.links for e in link.eps if e.secure)
        owned = await onboarding.take_ownership(
            seen.source, secure, lamp.endpoint.pin, GATEWAY,  # type: ignore[union-attr]
            {href: svr.READ | svr.UPDATE | svr.NOTIFY for href in lamp.hrefs.values()},
            request_timeout=5.0)
        keyring.set(owned.uuid, owned.key)
        owned_di, seen = await sighting(plain, lamp.port)
        await devices.update({owned_di: seen})
        (thing,) = list(registry)
        assert thing.not_bridgeable == "" and devices.by_di[owned_di].observations

        facts = lamp.reset()
        assert facts["deviceuuid"] != owned_di and len(facts["pin"]) == 8
        # the device closed its sessions: the gateway's next handshake finds no key for it
        with pytest.raises(DeviceError, match="DTLS"):
            await client.get(secure, "/oic/d")
        reset_di, seen = await sighting(plain, lamp.port)
        assert reset_di == facts["deviceuuid"]
        await devices.update({reset_di: seen})
        (thing,) = list(registry)
        assert thing.not_bridgeable == SECURE_ONLY
        assert forgotten == [owned_di]
        assert "was reset by its user" in caplog.text
    finally:
        await devices.shutdown()
        await client.shutdown()
