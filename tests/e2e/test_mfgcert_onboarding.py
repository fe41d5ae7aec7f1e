"""Issue 16.5 and 17.2: the manufacturer certificate ownership transfer (``oxmsel`` 2, suite
0xC0AE) with a test PKI. The gateway owns a simulated device by its certificate and bridges
it over coaps; an expired certificate and one from a CA the user does not trust are refused
with a clear line, and nothing changes on either side; a device without a certificate is
owned by Random PIN; the simulated onboarding tool owns a secured virtual device of the
gateway by the certificate the user installed; a malformed certificate file stops the
gateway at start with the key at fault."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiocoap import Context

from bridge.alljoyn.control import query
from bridge.core.errors import SecurityError
from bridge.daemon.ocf_credentials import OcfCredentials
from bridge.ocf import svr
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import parse_endpoint
from bridge.ocf.mfg_trust import TrustAnchors
from bridge.ocf.sec_keys import nul_free_uuid
from bridge.sim.ocf_obt import OnboardingTool, client_ace
from bridge.sim.pytest_plugin import DeviceFactory, OcfDeviceFactory
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.gateway import TestGateway
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.netns import OcfNetwork
from bridge.sim.testing.pki import DeviceFiles, TestPki
from tests.e2e.conftest import LIGHT
from tests.e2e.test_forgetting import named, wait_rows
from tests.e2e.test_secure_virtual_devices import bridge_device, endpoints, secured
from tests.e2e.test_secured_devices import bridged, not_bridgeable, ocfaj
from tests.e2e.waiting import virtual_ocf_device


def mfg(files: DeviceFiles) -> dict[str, Any]:
    return {"mfg_cert": files.cert, "mfg_key": files.key, "mfg_chain": files.chain}


async def plain_svrs(uri: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The device's doxm and pstat, read in clear (RFOTM allows that)."""
    endpoint = parse_endpoint(uri)
    assert endpoint is not None
    client = OcfClient(5.0, 65536)
    await client.start()
    try:
        return (await client.get(endpoint, svr.DOXM), await client.get(endpoint, svr.PSTAT))
    finally:
        await client.shutdown()


async def test_owned_by_manufacturer_certificate_and_bridged_over_coaps(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways, tmp_path: Path) -> None:
    pki = TestPki(tmp_path / "pki")
    lamp = ocf_device("light", "Porch", secure=True, **mfg(pki.device("porch")))
    assert lamp.facts["oxms"] == [1, 2]
    gateway = await asyncio.to_thread(
        gateway_factory, "gw", ocf={"manufacturer_trust_anchors": str(pki.anchors)})
    await wait_rows(gateway, not_bridgeable("Porch"), "Porch listed as not bridgeable",
                    gateway_factory, 20.0)
    doxm, _ = await plain_svrs(lamp.endpoint)
    assert doxm["oxms"] == [1, 2] and doxm["sct"] == 9

    listed = await asyncio.to_thread(ocfaj, gateway, "onboard", "--device", lamp.endpoint)
    assert "ownership method 2: manufacturer certificate" in listed.stdout, listed
    # No PIN given: the certificate is the method, since the device offers it and the
    # configured CA verifies its chain.
    done = await asyncio.to_thread(ocfaj, gateway, "onboard", "--device", lamp.endpoint,
                                   "--method", "mfgcert")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "owned 'Porch' by manufacturer certificate: new uuid" in done.stdout, done.stdout
    (record,) = OcfCredentials(gateway.state_dir).load().devices.values()

    # The owner PSK both sides derived from the 0xC0AE session opens a PSK session now.
    secure = parse_endpoint(record.coaps)
    assert secure is not None
    store = OcfCredentials(gateway.state_dir).load()
    client = OcfClient(5.0, 65536, keyring=Keyring(store.own, {record.uuid: record.key}))
    await client.start()
    try:
        doxm = await client.get(secure, svr.DOXM)
        assert doxm["owned"] is True and doxm["oxmsel"] == svr.MFG_CERT
        assert doxm["devowneruuid"] == str(store.own)
        assert "value" in await client.get(secure, lamp.href("switch"))
    finally:
        await client.shutdown()
    # Bridged over coaps by the running gateway, like a device owned by PIN.
    await wait_rows(gateway, bridged("Porch"), "Porch bridged over coaps", gateway_factory,
                    20.0)


async def test_control_interface_onboards_by_certificate(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways, dbus_daemon: DBusDaemon,
        ocf_network: OcfNetwork, tmp_path: Path) -> None:
    if not ocf_network.multicast:
        pytest.fail("multicast discovery of unowned devices needs the netns OCF network "
                    "(run the tests isolated: ./scripts/test)")
    pki = TestPki(tmp_path / "pki")
    porch = ocf_device("light", "Porch", secure=True, **mfg(pki.device("porch")))
    gateway = await asyncio.to_thread(
        gateway_factory, "gw", ocf={"manufacturer_trust_anchors": str(pki.anchors)})
    device = porch.facts["deviceuuid"]
    found = await query(dbus_daemon.address, "gw", "FindUnowned")
    assert found[0]["oxms"] == [{"oxm": 1, "method": "Random PIN"},
                                {"oxm": 2, "method": "manufacturer certificate"}], found
    # An empty PIN: by manufacturer certificate only.
    owned = await query(dbus_daemon.address, "gw", "Onboard", 60.0, (device, ""))
    assert owned["method"] == "manufacturer certificate" and owned["uuid"] != device, owned
    assert "owned over the control interface by manufacturer certificate" in gateway.log()
    await wait_rows(gateway, bridged("Porch"), "Porch bridged over coaps", gateway_factory,
                    20.0)


@pytest.mark.parametrize(("case", "reason"), [
    ("expired", "certificate has expired"),
    ("untrusted", "unable to get local issuer certificate"),
])
async def test_refused_certificate_changes_nothing(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways, tmp_path: Path,
        case: str, reason: str) -> None:
    pki = TestPki(tmp_path / "pki")
    files = (pki.device("porch", expired=True) if case == "expired"
             else TestPki(tmp_path / "stranger", name="Stranger").device("porch"))
    lamp = ocf_device("light", "Porch", secure=True, **mfg(files))
    gateway = await asyncio.to_thread(
        gateway_factory, "gw", ocf={"manufacturer_trust_anchors": str(pki.anchors)})
    before, _ = await plain_svrs(lamp.endpoint)

    refused = await asyncio.to_thread(ocfaj, gateway, "onboard", "--device", lamp.endpoint,
                                      "--method", "mfgcert")
    assert refused.returncode == 1, refused
    assert "manufacturer certificate 'CN=porch 1,O=" in refused.stderr, refused.stderr
    assert f"refused: {reason}" in refused.stderr, refused.stderr
    assert "nothing was sent over the session" in refused.stderr, refused.stderr
    # Nothing changed: no credential here, the device unowned under the same uuid.
    assert OcfCredentials(gateway.state_dir).load().devices == {}
    doxm, pstat = await plain_svrs(lamp.endpoint)
    assert doxm["owned"] is False and doxm["deviceuuid"] == before["deviceuuid"]
    assert doxm["devowneruuid"] == doxm["rowneruuid"] == str(svr.NIL)
    assert pstat["dos"]["s"] == int(svr.DeviceState.RFOTM)

    # With the PIN too, the refused certificate is said, and Random PIN owns it.
    done = await asyncio.to_thread(ocfaj, gateway, "onboard", "--device", lamp.endpoint,
                                   "--pin", lamp.facts["pin"])
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "not by manufacturer certificate: " in done.stdout and reason in done.stdout
    assert "owned 'Porch' by Random PIN" in done.stdout, done.stdout


async def test_device_without_certificate_owned_by_pin(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways, tmp_path: Path) -> None:
    pki = TestPki(tmp_path / "pki")
    lamp = ocf_device("light", "Porch", secure=True)
    assert lamp.facts["oxms"] == [1]
    gateway = await asyncio.to_thread(
        gateway_factory, "gw", ocf={"manufacturer_trust_anchors": str(pki.anchors)})
    forced = await asyncio.to_thread(ocfaj, gateway, "onboard", "--device", lamp.endpoint,
                                     "--method", "mfgcert")
    assert forced.returncode == 1
    assert "offers no manufacturer certificate transfer" in forced.stderr, forced.stderr
    done = await asyncio.to_thread(ocfaj, gateway, "onboard", "--device", lamp.endpoint,
                                   "--pin", lamp.facts["pin"])
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "owned 'Porch' by Random PIN" in done.stdout, done.stdout
    await wait_rows(gateway, bridged("Porch"), "Porch bridged over coaps", gateway_factory,
                    20.0)


async def test_onboarding_tool_owns_a_virtual_device_by_certificate(
        alljoyn_device: DeviceFactory, gateway_factory: TestGateways, coap: Context,
        tmp_path: Path) -> None:
    pki = TestPki(tmp_path / "pki")
    files = pki.device("gateway")
    lamp = alljoyn_device(LIGHT, "Desk")
    assert files.chain is not None
    gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True, ocf={
        "secure_virtual_devices": True, "manufacturer_certificate": str(files.cert),
        "manufacturer_key": str(files.key), "manufacturer_chain": str(files.chain)})
    await wait_rows(gateway, secured("Desk"), "Desk secured", gateway_factory, 20.0)

    obt = OnboardingTool()
    anchors = TrustAnchors.load(pki.anchors)
    bridge = await obt.own_by_certificate(
        *endpoints(await bridge_device(coap, gateway_factory, "gw")), anchors)
    desk_plain, desk_secure = endpoints(await virtual_ocf_device(coap, "Desk", gateway_factory))
    # A tool that trusts another manufacturer refuses the gateway's certificate.
    stranger = TrustAnchors.load(TestPki(tmp_path / "other", name="Other").anchors)
    with pytest.raises(SecurityError, match="unable to get local issuer certificate"):
        await OnboardingTool().own_by_certificate(desk_plain, desk_secure, stranger)
    desk = await obt.own_by_certificate(desk_plain, desk_secure, anchors)
    assert bridge.uuid != desk.uuid
    doxm = await obt.read(desk, svr.DOXM)
    assert doxm["oxms"] == [1, 2] and doxm["oxmsel"] == svr.MFG_CERT and doxm["owned"]
    assert doxm["devowneruuid"] == str(obt.uuid)
    rows = await wait_rows(gateway, lambda r: named(r, "Desk")["ocf_security"]["owned"],  # type: ignore[index]
                           "Desk owned", gateway_factory, 10.0)
    assert named(rows, "Desk")["ocf_security"]["state"] == "RFNOP", rows  # type: ignore[index]
    # The owner can provision a client, which then switches the AllJoyn lamp over coaps.
    client_id = nul_free_uuid()
    key = await obt.provision(desk, client_id, [client_ace(client_id)])
    client = OcfClient(5.0, 65536, keyring=Keyring(client_id, {desk.uuid: key}))
    await client.start()
    try:
        await client.post(desk_secure, "/switch", {"value": True})
    finally:
        await client.shutdown()
    assert await lamp.received("switch") == {"on": True}, gateway_factory.logs()


def test_malformed_certificate_file_stops_the_gateway_at_start(
        gateway_factory: TestGateways, tmp_path: Path) -> None:
    pki = TestPki(tmp_path / "pki")
    files = pki.device("gateway")
    broken = tmp_path / "broken.pem"
    broken.write_bytes(files.cert.read_bytes()[:200])
    gateway: TestGateway = gateway_factory("gw", start=False, ocf={
        "secure_virtual_devices": True, "manufacturer_certificate": str(broken),
        "manufacturer_key": str(files.key)})
    config = str(gateway.config_path)
    for command in (["check-config", config], ["run", "--config", config]):
        done = subprocess.run([sys.executable, "-m", "bridge", *command], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "ocf.manufacturer_certificate" in done.stderr, done.stderr
        assert "holds no readable PEM certificate" in done.stderr, done.stderr
