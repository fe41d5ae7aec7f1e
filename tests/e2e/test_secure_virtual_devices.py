"""Issue 17, end to end: a gateway with ``[ocf] secure_virtual_devices`` shows the Random PINs
of its bridge device and of the virtual OCF device of an AllJoyn lamp (log, ``ocfaj
devices``); the simulated onboarding tool owns the bridge device, then the lamp's virtual
device, over the network, and provisions a client, which reads and switches the AllJoyn lamp
over coaps; a plain client gets 4.01; a gateway restart keeps ownership and provisioning."""

from __future__ import annotations

import asyncio
from typing import Any

from aiocoap import Context

from bridge.core.errors import DeviceError
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import Endpoint, parse_endpoint
from bridge.ocf.sec_keys import nul_free_uuid
from bridge.sim.ocf_obt import OnboardingTool, client_ace
from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.conftest import LIGHT
from tests.e2e.ocf_client import Device
from tests.e2e.test_forgetting import named, wait_rows
from tests.e2e.test_secured_devices import ocfaj
from tests.e2e.waiting import virtual_ocf_device, wait_devices

Rows = list[dict[str, Any]]


def endpoints(device: Device) -> tuple[Endpoint, Endpoint]:
    """(plain, coaps) IPv4 endpoints of a device, from the eps of its ``/oic/d`` link."""
    link = next(link for link in device.links if link["href"] == "/oic/d")
    eps = [ep["ep"] for ep in link["eps"]]
    plain = next(ep for ep in eps if ep.startswith("coap://169.254."))
    secure = next(ep for ep in eps if ep.startswith("coaps://169.254."))
    found = parse_endpoint(plain), parse_endpoint(secure)
    assert found[0] is not None and found[1] is not None, eps
    return found[0], found[1]


async def bridge_device(coap: Context, gateways: TestGateways, name: str) -> Device:
    found = await wait_devices(coap, lambda seen: any(i.get("n") == name for _, i in seen),
                               gateways, f"the bridge device {name}")
    return next(device for device, info in found if info.get("n") == name)


def secured(name: str) -> Any:
    def check(rows: Rows) -> bool:
        row = named(rows, name)
        return row is not None and isinstance(row.get("ocf_security"), dict)
    return check


async def test_secured_virtual_device_onboarded_provisioned_and_kept_over_a_restart(
        alljoyn_device: DeviceFactory, gateway_factory: TestGateways, coap: Context) -> None:
    lamp = alljoyn_device(LIGHT, "Desk")
    gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                                      ocf={"secure_virtual_devices": True})
    logs = gateway_factory.logs
    rows = await wait_rows(gateway, secured("Desk"), "Desk secured", gateway_factory, 20.0)
    desk_pin = named(rows, "Desk")["ocf_security"]["pin"]  # type: ignore[index]
    bridge_row = next(row for row in rows if row["device_type"] == "oic.d.bridge")
    bridge_pin = bridge_row["ocf_security"]["pin"]
    assert bridge_row["ocf_security"]["owned"] is False and bridge_row["name"] == "gw"
    assert f"its Random PIN is {desk_pin}" in gateway.log()
    listed = await asyncio.to_thread(ocfaj, gateway, "devices")
    assert listed.returncode == 0, listed.stderr
    assert f"OCF Desk: unowned, uuid {named(rows, 'Desk')['di']}" in listed.stdout  # type: ignore[index]
    assert f"Random PIN {desk_pin} (onboard the bridge device first" in listed.stdout
    assert f"OCF gw: unowned, uuid {bridge_row['di']}, Random PIN {bridge_pin}" in listed.stdout

    obt = OnboardingTool()
    bridge = await obt.own(*endpoints(await bridge_device(coap, gateway_factory, "gw")),
                           bridge_pin)
    desk_plain, desk_secure = endpoints(await virtual_ocf_device(coap, "Desk", gateway_factory))
    desk = await obt.own(desk_plain, desk_secure, desk_pin)
    assert bridge.uuid != desk.uuid
    client_id = nul_free_uuid()
    key = await obt.provision(desk, client_id, [client_ace(client_id)])

    async def switch(secure: Endpoint, value: bool) -> None:
        client = OcfClient(5.0, 65536, keyring=Keyring(client_id, {desk.uuid: key}))
        await client.start()
        try:
            assert "value" in await client.get(secure, "/switch")
            await client.post(secure, "/switch", {"value": value})
        finally:
            await client.shutdown()

    await switch(desk_secure, True)
    assert await lamp.received("switch") == {"on": True}, logs()
    plain = OcfClient(5.0, 65536)
    await plain.start()
    try:
        try:
            await plain.get(desk_plain, "/switch")
            raise AssertionError("a plain GET of a secured resource was answered")
        except DeviceError as err:
            assert err.code == 401, err
    finally:
        await plain.shutdown()
    rows = await wait_rows(gateway, lambda r: named(r, "Desk")["ocf_security"]["owned"],  # type: ignore[index]
                           "Desk owned", gateway_factory, 10.0)

    # A restart keeps everything: owned, provisioned, the client's key still works.
    assert await asyncio.to_thread(gateway.stop) == 0, logs()
    await asyncio.to_thread(gateway.start, 30.0)
    rows = await wait_rows(gateway, secured("Desk"), "Desk secured again", gateway_factory, 20.0)
    assert named(rows, "Desk")["ocf_security"] == {  # type: ignore[index]
        "owned": True, "state": "RFNOP", "deviceuuid": str(desk.uuid)}
    again = await virtual_ocf_device(coap, "Desk", gateway_factory)
    assert again.di == str(desk.uuid)
    await switch(endpoints(again)[1], False)
    assert await lamp.received("switch") == {"on": False}, logs()
