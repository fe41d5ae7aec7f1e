"""Issue 7: the gateway discovers the firmware (run under CPython in its own namespace), reads
it, switches it and observes it, all seen from an AllJoyn consumer through the real gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dbus_fast import MessageType

from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.netns import OcfNetwork
from tests.e2e.alljoyn_consumer import (
    CURRENT_TEMPERATURE,
    OFF_CONTROL,
    ON_CONTROL,
    ON_OFF_STATUS,
    Consumer,
)
from tests.firmware.hostdevice import host_config, start_host_device

CLOSED_STATUS = "org.alljoyn.SmartSpaces.Operation.ClosedStatus"
NAME = "Host demo device"


async def test_gateway_discovers_reads_switches_and_observes_the_firmware(
        ocf_network: OcfNetwork, gateway_factory: TestGateways, tmp_path: Path,
        consumer: Consumer) -> None:
    # The firmware is no simulator: it gets a bare host of its own on the OCF network.
    device = await asyncio.to_thread(start_host_device, ocf_network.add_host("fw"),
                                     tmp_path / "fw", host_config())
    await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    app = await consumer.wait_app(NAME, virtual=True)
    assert app.app_id.hex() == device.di.replace("-", ""), (app.about, device.di)

    # Read: the relay is off. The contact input (pin 7 pulled up, nothing closing it) reads 1,
    # so the firmware reports oic.r.sensor.contact value true, which OCF defines as "contact
    # broken": AllJoyn ClosedStatus.IsClosed false.
    assert await consumer.get(app, ON_OFF_STATUS, "IsOn") is False
    assert await consumer.get(app, CLOSED_STATUS, "IsClosed") is False

    # Switch: SwitchOn through the gateway moves the firmware's relay pin.
    reply = await consumer.invoke(app, ON_CONTROL, "SwitchOn")
    assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body,
                                                              gateway_factory.logs())
    assert await asyncio.to_thread(device.wait_event, "pin 5") == "pin 5 1"
    await consumer.wait_change(app.unique_name, ON_OFF_STATUS, "IsOn", True)
    reply = await consumer.invoke(app, OFF_CONTROL, "SwitchOff")
    assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body)
    assert await asyncio.to_thread(device.wait_event, "pin 5") == "pin 5 0"

    # Observe: the reed switch closes (pin 7 low: value false, contact in place) and the
    # temperature rises at the device; both reach the AllJoyn consumer as PropertiesChanged
    # through the gateway's observations of the firmware.
    device.set_pin(7, 0)
    await consumer.wait_change(app.unique_name, CLOSED_STATUS, "IsClosed", True)
    device.set_temperature(30.5)
    await consumer.wait_change(app.unique_name, CURRENT_TEMPERATURE, "CurrentValue", 30.5)
    device.set_pin(7, 1)
    await consumer.wait_change(app.unique_name, CLOSED_STATUS, "IsClosed", False)
    assert await consumer.get(app, CURRENT_TEMPERATURE, "CurrentValue") == 30.5
