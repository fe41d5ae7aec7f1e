"""Issue 16 point 4: a secured OCF device owned by another onboarding tool is bridged once that
tool provisions the gateway. The simulated onboarding tool owns a secured simulated light and
the gateway's secured bridge device (``[ocf] secure_virtual_devices``), both with Random PIN,
over the network; until it pairs them the light is listed as not bridgeable; once it puts
one pairwise key on both (the light's ACE for the bridge device, the bridge device's cred for
the light), the running gateway bridges the light over coaps with that key: AllJoyn switches
it. A reset of the bridge device by the tool takes the key away: not bridgeable again."""

from __future__ import annotations

import asyncio

from aiocoap import Context
from dbus_fast import MessageType

from bridge.ocf import svr
from bridge.ocf.links import Endpoint, parse_endpoint
from bridge.sim.ocf_obt import OnboardingTool
from bridge.sim.pytest_plugin import OcfDeviceFactory
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.alljoyn_consumer import ON_CONTROL, Consumer
from tests.e2e.test_forgetting import named, wait_rows
from tests.e2e.test_secure_virtual_devices import bridge_device, endpoints
from tests.e2e.test_secured_devices import bridged, not_bridgeable


async def test_a_device_paired_with_the_bridge_device_by_another_tool_is_bridged_over_coaps(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways, coap: Context,
        consumer: Consumer) -> None:
    lamp = ocf_device("light", "Porch", secure=True)
    gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                                      ocf={"secure_virtual_devices": True})
    logs = gateway_factory.logs
    rows = await wait_rows(gateway, not_bridgeable("Porch"), "Porch not bridgeable",
                           gateway_factory, 20.0)
    bridge_row = next(row for row in rows if row["device_type"] == "oic.d.bridge")
    obt = OnboardingTool()
    bridge = await obt.own(*endpoints(await bridge_device(coap, gateway_factory, "gw")),
                           bridge_row["ocf_security"]["pin"])
    plain = parse_endpoint(lamp.endpoint)
    assert plain is not None
    porch = await obt.own(plain, Endpoint("coaps", plain.host, int(lamp.facts["coaps_port"])),
                          str(lamp.facts["pin"]))

    # Owned by the tool, not by the gateway: still nothing to bridge it with.
    await wait_rows(gateway, lambda r: named(r, "Porch") is not None
                    and named(r, "Porch")["di"] == str(porch.uuid)  # type: ignore[index]
                    and not_bridgeable("Porch")(r), "Porch under its new uuid",
                    gateway_factory, 20.0)

    await obt.pair(porch, bridge)
    creds = await obt.read(bridge, svr.CRED)
    assert str(porch.uuid) in [c["subjectuuid"] for c in creds["creds"]], creds
    await wait_rows(gateway, bridged("Porch"), "Porch bridged over coaps", gateway_factory,
                    20.0)
    assert f"provisioned a key for OCF device {porch.uuid}" in gateway.log(), logs()
    app = await consumer.wait_app("Porch", virtual=True)
    reply = await consumer.invoke(app, ON_CONTROL, "SwitchOn")
    assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body,
                                                              logs())
    assert await lamp.received("switch") == {"on": True}

    # The tool resets the bridge device (its credentials go): the light is not bridged.
    await obt.reset(bridge)
    await wait_rows(gateway, not_bridgeable("Porch"), "Porch not bridgeable again",
                    gateway_factory, 30.0)
    assert f"the key for OCF device {porch.uuid} provisioned on the bridge device is gone" \
        in gateway.log()
