"""The secured simulated OCF device and the gateway's Random PIN ownership transfer, on
loopback with real UDP: unowned rules, wrong PIN, ownership, provisioning, ACL, offboarding."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from bridge.core.errors import DeviceError, SecurityError
from bridge.model.types import Catalogue
from bridge.ocf import onboarding, svr
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import Endpoint, parse_endpoint
from bridge.sim.device import SimDevice
from bridge.sim.ocf import SimListing
from bridge.sim.ocf_secure import SecureOcfSimServer

GATEWAY = uuid.UUID(bytes=bytes(range(0xE1, 0xF1)))


def ep(scheme: str, port: int) -> Endpoint:
    endpoint = parse_endpoint(f"{scheme}://[::1]:{port}")
    assert endpoint is not None
    return endpoint


@pytest.fixture
async def device(catalogue: Catalogue) -> AsyncIterator[tuple[SecureOcfSimServer, dict]]:
    server = SecureOcfSimServer(SimDevice.of_type("Lamp", catalogue, "light"),
                                SimListing(multicast=False), bind_host="::1")
    facts = dict(await server.start())
    yield server, facts
    await server.stop()


@pytest.fixture
async def plain() -> AsyncIterator[OcfClient]:
    client = OcfClient(5.0, 65536)
    await client.start()
    yield client
    await client.shutdown()


def grants(facts: dict) -> dict[str, int]:
    return {href: svr.READ | svr.UPDATE | svr.NOTIFY for href in facts["hrefs"].values()}


async def test_unowned_device_serves_only_doxm_pstat_and_core(
        device: tuple[SecureOcfSimServer, dict], plain: OcfClient) -> None:
    _, facts = device
    assert len(facts["pin"]) == 8 and facts["secure"] is True
    doxm = await plain.get(ep("coap", facts["port"]), svr.DOXM)
    assert doxm["owned"] is False and doxm["oxmsel"] == svr.NO_OXM
    assert doxm["deviceuuid"] == facts["deviceuuid"]
    pstat = await plain.get(ep("coap", facts["port"]), svr.PSTAT)
    assert pstat["dos"]["s"] == int(svr.DeviceState.RFOTM)
    assert (await plain.get(ep("coap", facts["port"]), "/oic/d"))["n"] == "Lamp"
    for href in (svr.CRED, svr.ACL2, next(iter(facts["hrefs"].values()))):
        with pytest.raises(DeviceError) as refused:
            await plain.get(ep("coap", facts["port"]), href)
        assert refused.value.code == 401


async def test_wrong_pin_is_refused_and_nothing_changes(
        device: tuple[SecureOcfSimServer, dict], plain: OcfClient) -> None:
    server, facts = device
    wrong = "00000000" if facts["pin"] != "00000000" else "11111111"
    with pytest.raises(SecurityError, match="wrong PIN"):
        await onboarding.take_ownership(ep("coap", facts["port"]),
                                        ep("coaps", facts["coaps_port"]), wrong, GATEWAY,
                                        grants(facts), request_timeout=5.0)
    doxm = await plain.get(ep("coap", facts["port"]), svr.DOXM)
    assert doxm["owned"] is False and doxm["devowneruuid"] == str(svr.NIL)
    assert server.security.creds == []


async def test_ownership_provisioning_acl_and_offboarding(
        device: tuple[SecureOcfSimServer, dict], plain: OcfClient) -> None:
    server, facts = device
    coap, secure = ep("coap", facts["port"]), ep("coaps", facts["coaps_port"])
    href = facts["hrefs"]["switch"] if "switch" in facts["hrefs"] else \
        next(iter(facts["hrefs"].values()))
    owned = await onboarding.take_ownership(coap, secure, facts["pin"], GATEWAY,
                                            grants(facts), request_timeout=5.0)
    state = server.security
    assert state.owned and state.state == svr.DeviceState.RFNOP
    assert state.devowner == state.rowner == GATEWAY
    assert state.device == owned.uuid and str(owned.uuid) != facts["deviceuuid"]
    assert state.key_for(GATEWAY) == owned.key  # both sides derived the same owner PSK
    # owned: the SVRs and the resources are closed to plain CoAP, /oic/d stays open
    for path in (svr.DOXM, href):
        with pytest.raises(DeviceError) as refused:
            await plain.get(coap, path)
        assert refused.value.code == 401
    assert (await plain.get(coap, "/oic/d"))["n"] == "Lamp"
    # the gateway reads and writes over coaps with its pairwise key
    gateway = OcfClient(5.0, 65536, keyring=Keyring(GATEWAY, {owned.uuid: owned.key}))
    await gateway.start()
    try:
        assert isinstance(await gateway.get(secure, href), dict)
        pstat = await gateway.get(secure, svr.PSTAT)
        assert pstat["isop"] is True and pstat["dos"]["s"] == 3
    finally:
        await gateway.shutdown()
    # a stranger's DTLS client with its own key is refused
    stranger_id = uuid.UUID(bytes=bytes(range(0x31, 0x41)))
    stranger = OcfClient(3.0, 65536, keyring=Keyring(stranger_id, {owned.uuid: bytes(16)}))
    await stranger.start()
    try:
        with pytest.raises(DeviceError, match="DTLS"):
            await stranger.get(secure, href)
    finally:
        await stranger.shutdown()
    await onboarding.offboard(secure, GATEWAY, owned.uuid, owned.key, request_timeout=5.0)
    doxm = await plain.get(coap, svr.DOXM)
    assert doxm["owned"] is False and state.creds == [] and state.acl == []
    assert doxm["deviceuuid"] not in (str(owned.uuid), facts["deviceuuid"])
