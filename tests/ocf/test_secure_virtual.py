"""Issue 17: the gateway's secured virtual OCF devices (``[ocf] secure_virtual_devices``),
onboarded by the simulated onboarding tool (``bridge.sim.ocf_obt``) over real UDP and DTLS on
loopback: the bridge device first, then a virtual device; a provisioned client reads,
observes and switches over coaps; a provisioned client without an ACE gets 4.03; a DTLS
client nobody provisioned cannot connect; a plain client gets nothing but discovery; a reset
to RFOTM and a second onboarding; a restart and an origin device that leaves and returns keep
everything, saved with mode 0600."""

from __future__ import annotations

import asyncio
import stat
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bridge.core.errors import DeviceError, SecurityError
from bridge.core.identity import IdentityBook
from bridge.core.policy import Policy, PolicyRule
from bridge.core.registry import Registry, SetProperties
from bridge.core.thing import Side, Thing
from bridge.daemon.ocf_security_store import SecurityFiles
from bridge.model.types import Catalogue
from bridge.ocf import svr
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import Endpoint
from bridge.ocf.sec_keys import nul_free_uuid
from bridge.ocf.virtual import VirtualOcfDevices
from bridge.sim.ocf_obt import OnboardingTool, OwnedByTool, client_ace
from bridge.sim.testing.procs import await_until, free_udp_port
from tests.ocf.things import RecordingOrigin, alljoyn_lamp


class Gateway:
    """The OCF virtual devices of one gateway, started over a state directory."""

    def __init__(self, registry: Registry, state_dir: Path, port: int) -> None:
        self.registry, self.state_dir, self.port = registry, state_dir, port
        self.virtual: VirtualOcfDevices | None = None

    async def start(self) -> VirtualOcfDevices:
        self.virtual = VirtualOcfDevices(
            self.registry, gateway_name="Test gateway", bind_host="::", server_port=self.port,
            multicast=[], max_payload=4096, secure=True, store=SecurityFiles(self.state_dir))
        await self.virtual.start()
        await self.virtual.wait_idle()
        return self.virtual

    async def stop(self) -> None:
        if self.virtual is not None:
            await self.virtual.shutdown()
            self.virtual = None

    def endpoints(self, thing: Thing | None) -> tuple[Endpoint, Endpoint]:
        """(plain, coaps) of the bridge device (None) or of ``thing``'s virtual device."""
        assert self.virtual is not None and self.virtual.security is not None
        if thing is None:
            return (Endpoint("coap", "::1", self.virtual.listener.port),
                    Endpoint("coaps", "::1", self.virtual.security.bridge.coaps_port))
        endpoint = self.virtual.virtuals[thing.id].endpoint
        return (Endpoint("coap", "::1", endpoint.port),
                Endpoint("coaps", "::1", endpoint.security.coaps_port))  # type: ignore[attr-defined]

    def pin(self, thing: Thing | None) -> str:
        assert self.virtual is not None and self.virtual.security is not None
        if thing is None:
            return self.virtual.security.bridge.pin
        return self.virtual.virtuals[thing.id].endpoint.security.pin  # type: ignore[attr-defined]


@pytest.fixture
async def lamp(registry: Registry, catalogue: Catalogue) -> tuple[Thing, RecordingOrigin]:
    origin = RecordingOrigin()
    registry.register_handler(Side.ALLJOYN, origin)
    return registry.upsert(alljoyn_lamp(catalogue, IdentityBook())), origin


@pytest.fixture
async def gateway(registry: Registry, tmp_path: Path) -> AsyncIterator[Gateway]:
    gw = Gateway(registry, tmp_path, free_udp_port("::1"))
    try:
        yield gw
    finally:
        await gw.stop()


@pytest.fixture
async def plain() -> AsyncIterator[OcfClient]:
    client = OcfClient(3.0, 65536)
    await client.start()
    yield client
    await client.shutdown()


async def refused(client: OcfClient, ep: Endpoint, href: str, body: Any = None) -> int:
    with pytest.raises(DeviceError) as err:
        if body is None:
            await client.get(ep, href)
        else:
            await client.post(ep, href, body)
    return err.value.code


class Client:
    """An OCF client the onboarding tool provisioned: its uuid and its pairwise keys."""

    def __init__(self) -> None:
        self.uuid = nul_free_uuid()
        self.keys: dict[uuid.UUID, bytes] = {}

    def ocf(self) -> OcfClient:
        return OcfClient(3.0, 65536, keyring=Keyring(self.uuid, self.keys))


async def onboard(gateway: Gateway, obt: OnboardingTool, thing: Thing
                  ) -> tuple[OwnedByTool, OwnedByTool]:
    bridge = await obt.own(*gateway.endpoints(None), gateway.pin(None))
    device = await obt.own(*gateway.endpoints(thing), gateway.pin(thing))
    return bridge, device


async def provision(obt: OnboardingTool, device: OwnedByTool, client: Client,
                    ace: bool = True) -> None:
    aces = [client_ace(client.uuid)] if ace else []
    client.keys[device.uuid] = await obt.provision(device, client.uuid, aces)


async def test_bridge_then_virtual_device_onboarded_and_access_enforced(
        gateway: Gateway, lamp: tuple[Thing, RecordingOrigin], plain: OcfClient,
        tmp_path: Path) -> None:
    thing, origin = lamp
    virtual = await gateway.start()
    bridge_plain, _ = gateway.endpoints(None)
    lamp_plain, lamp_secure = gateway.endpoints(thing)

    # Unowned: doxm (Random PIN only) and pstat in clear, nothing else but discovery.
    doxm = await plain.get(lamp_plain, svr.DOXM)
    assert doxm["owned"] is False and doxm["oxms"] == [svr.RANDOM_PIN]
    assert doxm["deviceuuid"] == thing.identity.di
    assert (await plain.get(lamp_plain, svr.PSTAT))["dos"]["s"] == int(svr.DeviceState.RFOTM)
    for href in (svr.CRED, svr.ACL2, svr.SDI, "/switch"):
        assert await refused(plain, lamp_plain, href) == 401
    assert await refused(plain, bridge_plain, "/bridge/vodlist") == 401
    links = await plain.get(bridge_plain, "/oic/res")
    switch = next(link for link in links if link["href"] == "/switch"
                  and link["anchor"] == f"ocf://{thing.identity.di}")
    assert [ep["ep"] for ep in switch["eps"]] == [f"coaps://[::1]:{lamp_secure.port}"]
    assert thing.security["ocf"] == {"owned": False, "state": "RFOTM",
                                     "deviceuuid": thing.identity.di,
                                     "pin": gateway.pin(thing),
                                     "waiting": thing.security["ocf"]["waiting"]}
    assert "onboard the bridge device first" in str(thing.security["ocf"]["waiting"])

    # The bridge device is onboarded first: a virtual device refuses its transfer before.
    obt = OnboardingTool()
    with pytest.raises(DeviceError) as early:
        await obt.own(lamp_plain, lamp_secure, gateway.pin(thing))
    assert early.value.code == 403 and "bridge device first" in early.value.message
    bridge, device = await onboard(gateway, obt, thing)
    assert device.uuid != uuid.UUID(thing.identity.di)
    assert virtual.virtuals[thing.id].layout.device.di == str(device.uuid)
    assert thing.security["ocf"] == {"owned": True, "state": "RFNOP",
                                     "deviceuuid": str(device.uuid)}
    assert (await obt.read(device, svr.DOXM))["devowneruuid"] == str(obt.uuid)
    # The owner reaches the SVRs, not the bridge's vodlist: that takes an ACE.
    with pytest.raises(DeviceError, match="403"):
        await obt.read(bridge, "/bridge/vodlist")

    # One client with ACEs (on the bridge and the lamp), one provisioned without.
    allowed, other = Client(), Client()
    await provision(obt, bridge, allowed)
    await provision(obt, device, allowed)
    await provision(obt, device, other, ace=False)
    client = allowed.ocf()
    await client.start()
    try:
        vods = (await client.get(gateway.endpoints(None)[1], "/bridge/vodlist"))["vods"]
        assert [v["di"] for v in vods] == [str(device.uuid)]
        assert await client.get(lamp_secure, "/switch") == {"value": False}
        values: list[Any] = []
        observation = client.observe(lamp_secure, "/switch", values.append, values.append)
        await await_until(lambda: values == [{"value": False}])
        await client.post(lamp_secure, "/switch", {"value": True})
        assert origin.commands[-1] == SetProperties("switch", {"on": True})
        virtual.registry.update_state(thing.id, "switch", {"on": True})
        await await_until(lambda: {"value": True} in values)
        # Over coaps too, one notification in 16 is confirmable and its ACK lets the rest on.
        for turn in range(40):
            virtual.registry.update_state(thing.id, "switch", {"on": turn % 2 == 1})
        await await_until(lambda: len(values) == 42)
        assert values[2:] == [{"value": turn % 2 == 1} for turn in range(40)]
        await client.deregister(observation)
        # An SVR is not granted by the wildcard ACE.
        assert await refused(client, lamp_secure, svr.CRED) == 403
    finally:
        await client.shutdown()
    stranger = other.ocf()
    await stranger.start()
    try:
        commands = len(origin.commands)
        assert await refused(stranger, lamp_secure, "/switch") == 403
        assert await refused(stranger, lamp_secure, "/switch", {"value": False}) == 403
        assert len(origin.commands) == commands  # nothing reached the AllJoyn device
    finally:
        await stranger.shutdown()

    # A DTLS client nobody provisioned (with a key of its own) cannot connect.
    unknown = OcfClient(3.0, 65536, keyring=Keyring(nul_free_uuid(), {device.uuid: bytes(16)}))
    await unknown.start()
    try:
        with pytest.raises(DeviceError, match="DTLS"):
            await unknown.get(lamp_secure, "/switch")
    finally:
        await unknown.shutdown()

    # Plain CoAP once owned: discovery and /oic/d, nothing else.
    assert (await plain.get(lamp_plain, "/oic/d"))["di"] == str(device.uuid)
    for href in (svr.DOXM, svr.PSTAT, "/switch"):
        assert await refused(plain, lamp_plain, href) == 401
    assert await refused(plain, lamp_plain, "/switch", {"value": False}) == 401

    # Saved, readable by the gateway's user only.
    saved = sorted((tmp_path / "ocf-security").iterdir())
    assert [p.name for p in saved] == sorted(["bridge.json", f"{thing.identity.di}.json"])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in saved)
    assert stat.S_IMODE((tmp_path / "ocf-security").stat().st_mode) == 0o700


async def test_policy_still_applies_over_an_ace(
        gateway: Gateway, lamp: tuple[Thing, RecordingOrigin], registry: Registry) -> None:
    thing, origin = lamp
    registry.policy = Policy((PolicyRule(action="read_only", side="ocf", id=thing.id),))
    await gateway.start()
    obt = OnboardingTool()
    _, device = await onboard(gateway, obt, thing)
    allowed = Client()
    await provision(obt, device, allowed)
    client = allowed.ocf()
    await client.start()
    try:
        _, secure = gateway.endpoints(thing)
        assert await client.get(secure, "/switch") == {"value": False}
        assert await refused(client, secure, "/switch", {"value": True}) == 403
        assert origin.commands == []
    finally:
        await client.shutdown()


async def test_reset_to_rfotm_and_onboard_again(
        gateway: Gateway, lamp: tuple[Thing, RecordingOrigin], plain: OcfClient) -> None:
    thing, _ = lamp
    await gateway.start()
    obt = OnboardingTool()
    _, device = await onboard(gateway, obt, thing)
    first_pin = gateway.pin(thing)
    allowed = Client()
    await provision(obt, device, allowed)

    await obt.reset(device)
    lamp_plain, lamp_secure = gateway.endpoints(thing)
    doxm = await plain.get(lamp_plain, svr.DOXM)
    # Unowned again, under the uuid derived from the AllJoyn device, with a new PIN.
    assert doxm["owned"] is False and doxm["deviceuuid"] == thing.identity.di
    assert thing.security["ocf"]["pin"] == gateway.pin(thing) != first_pin
    client = allowed.ocf()
    await client.start()
    try:
        with pytest.raises(DeviceError):
            await client.get(lamp_secure, "/switch")  # its credential is gone
    finally:
        await client.shutdown()
    with pytest.raises(SecurityError, match="wrong PIN"):
        await obt.own(lamp_plain, lamp_secure, first_pin)

    again = await obt.own(lamp_plain, lamp_secure, gateway.pin(thing))
    fresh = Client()
    await provision(obt, again, fresh)
    client = fresh.ocf()
    await client.start()
    try:
        assert await client.get(lamp_secure, "/switch") == {"value": False}
    finally:
        await client.shutdown()


async def test_restart_and_a_returning_origin_keep_everything(
        gateway: Gateway, lamp: tuple[Thing, RecordingOrigin], registry: Registry,
        catalogue: Catalogue) -> None:
    thing, _ = lamp
    await gateway.start()
    obt = OnboardingTool()
    bridge, device = await onboard(gateway, obt, thing)
    allowed = Client()
    await provision(obt, device, allowed)

    async def reads() -> None:
        client = allowed.ocf()
        await client.start()
        try:
            assert await client.get(gateway.endpoints(thing)[1], "/switch") == {"value": False}
        finally:
            await client.shutdown()

    await gateway.stop()
    virtual = await gateway.start()
    assert virtual.security is not None and virtual.security.bridge_owned()
    await reads()
    # New ephemeral ports after the restart; the same uuids and keys.
    device = replace(device, secure=gateway.endpoints(thing)[1])
    bridge = replace(bridge, secure=gateway.endpoints(None)[1])
    pstat = await obt.read(device, svr.PSTAT)
    assert pstat["dos"]["s"] == int(svr.DeviceState.RFNOP) and pstat["isop"] is True
    assert (await obt.read(bridge, svr.DOXM))["owned"] is True
    assert registry.get(thing.id).security["ocf"]["owned"] is True  # type: ignore[union-attr]

    # The AllJoyn device leaves (forgotten) and returns: same provisioning.
    registry.remove(thing.id)
    await virtual.wait_idle()
    assert thing.id not in virtual.virtuals
    back = registry.upsert(alljoyn_lamp(catalogue, IdentityBook()))
    await virtual.wait_idle()
    await asyncio.wait_for(reads(), 10)
    assert back.security["ocf"] == {"owned": True, "state": "RFNOP",
                                    "deviceuuid": str(device.uuid)}
