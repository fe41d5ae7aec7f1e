"""Issue 16: a secured OCF device, owned by the gateway with its Random PIN, is bridged over
coaps like any other device: AllJoyn and MQTT see and switch it, its own changes arrive
through a coaps observation, a gateway restart keeps the credential, and offboarding makes it
not bridgeable again. A wrong PIN and a stranger's DTLS client are refused with a clear line.
Unowned devices are found by multicast ``/oic/sec/doxm?owned=FALSE`` (CLI and the control
interface's ``FindUnowned``/``Onboard``)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import aiomqtt
import pytest
from dbus_fast import MessageType

from bridge.alljoyn.control import query
from bridge.core.errors import DeviceError
from bridge.daemon.ocf_credentials import OcfCredentials
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import parse_endpoint
from bridge.ocf.sec_keys import nul_free_uuid
from bridge.sim.pytest_plugin import OcfDeviceFactory
from bridge.sim.testing import Mosquitto
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.gateway import TestGateway
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.netns import OcfNetwork
from tests.e2e.alljoyn_consumer import ON_CONTROL, ON_OFF_STATUS, Consumer
from tests.e2e.test_forgetting import named, wait_rows

Rows = list[dict[str, Any]]


def ocfaj(gateway: TestGateway, *args: str) -> subprocess.CompletedProcess[str]:
    """``ocfaj <args>`` against the gateway's configuration (its state directory)."""
    done: subprocess.CompletedProcess[str] = subprocess.run(
        [sys.executable, "-m", "bridge", args[0], "--config", str(gateway.config_path),
         *args[1:]], capture_output=True, text=True, timeout=60)
    return done


def not_bridgeable(name: str) -> Callable[[Rows], bool]:
    def check(rows: Rows) -> bool:
        row = named(rows, name)
        return row is not None and "not owned" in row["not_bridgeable"]
    return check


def bridged(name: str) -> Callable[[Rows], bool]:
    def check(rows: Rows) -> bool:
        row = named(rows, name)
        return (row is not None and row["available"] and not row["not_bridgeable"]
                and str(row["diagnostics"].get("endpoint", "")).startswith("coaps://"))
    return check


async def mqtt_state(broker: Mosquitto, topic: str, wanted: Callable[[Any], bool],
                     within: float = 20.0) -> Any:
    """The first state on ``topic`` (retained or new) that ``wanted`` accepts."""
    seen: list[Any] = []
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        try:
            async with asyncio.timeout(within):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes | bytearray)
                    state = json.loads(message.payload)
                    seen.append(state)
                    if wanted(state):
                        return state
        except TimeoutError:
            raise AssertionError(f"no wanted state on {topic} within {within} s: {seen}"
                                 ) from None
    raise AssertionError(f"the subscription to {topic} ended")


async def stranger_get(uri: str, href: str, keyring: Keyring) -> str:
    """GET ``href`` with a DTLS client that holds ``keyring``; returns why it failed."""
    endpoint = parse_endpoint(uri)
    assert endpoint is not None
    client = OcfClient(3.0, 65536, keyring=keyring)
    await client.start()
    try:
        with pytest.raises(DeviceError) as refused:
            await client.get(endpoint, href)
        return refused.value.message
    finally:
        await client.shutdown()


async def test_secured_light_owned_bridged_observed_restarted_offboarded(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways, consumer: Consumer,
        mosquitto: Mosquitto) -> None:
    lamp = ocf_device("light", "Porch", secure=True)
    # On the local side, where the broker on 127.0.0.1 is.
    gateway = await asyncio.to_thread(
        gateway_factory, "gw", mqtt={"enabled": True, "host": mosquitto.host,
                                     "port": mosquitto.port})
    logs = gateway_factory.logs
    await wait_rows(gateway, not_bridgeable("Porch"), "Porch listed as not bridgeable",
                    gateway_factory, 20.0)
    assert "is secured: its resources answer over coaps only" in gateway.log()

    pin = lamp.facts["pin"]
    wrong = "00000000" if pin != "00000000" else "11111111"
    refused = await asyncio.to_thread(ocfaj, gateway, "onboard", "--device", lamp.endpoint,
                                      "--pin", wrong)
    assert refused.returncode == 1 and "wrong PIN" in refused.stderr, refused
    assert OcfCredentials(gateway.state_dir).load().devices == {}

    done = await asyncio.to_thread(ocfaj, gateway, "onboard", "--device", lamp.endpoint,
                                   "--pin", pin)
    assert done.returncode == 0, (done.stdout, done.stderr)
    (record,) = OcfCredentials(gateway.state_dir).load().devices.values()
    assert record.coaps.startswith("coaps://")

    # Picked up by the running gateway: bridged over coaps, to AllJoyn and MQTT.
    await wait_rows(gateway, bridged("Porch"), "Porch bridged over coaps", gateway_factory,
                    20.0)
    assert f"holding a key for OCF device Porch ({record.uuid})" in gateway.log()
    app = await consumer.wait_app("Porch", virtual=True)
    reply = await consumer.invoke(app, ON_CONTROL, "SwitchOn")
    assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body,
                                                              logs())
    assert await lamp.received("switch") == {"on": True}
    await consumer.wait_change(app.unique_name, ON_OFF_STATUS, "IsOn", True)
    await mqtt_state(mosquitto, "ocfaj/porch", lambda s: s.get("switch") == {"on": True})
    # A change at the device reaches both, through the observation over coaps.
    await asyncio.to_thread(lamp.set, "switch", {"on": False})
    await consumer.wait_change(app.unique_name, ON_OFF_STATUS, "IsOn", False)
    await mqtt_state(mosquitto, "ocfaj/porch", lambda s: s.get("switch") == {"on": False})

    # A stranger's DTLS client, with a key of its own for the device, is refused by it.
    message = await stranger_get(record.coaps, lamp.href("switch"),
                                 Keyring(nul_free_uuid(), {record.uuid: bytes(16)}))
    assert "DTLS" in message, message
    assert lamp.process.log_path is not None
    sim_log = lamp.process.log_path.read_text(errors="replace")
    assert "DTLS failed" in sim_log, sim_log[-2000:]

    # A restart keeps the credential: the device is bridged again, over coaps.
    assert await asyncio.to_thread(gateway.stop) == 0, logs()
    await consumer.wait_gone(app.unique_name)
    await asyncio.to_thread(gateway.start, 30.0)
    again = await consumer.wait_app("Porch", virtual=True, within=30.0)
    assert again.app_id == app.app_id
    await wait_rows(gateway, bridged("Porch"), "Porch bridged after the restart",
                    gateway_factory, 20.0)

    # Offboarded: unowned again, and listed as not bridgeable under the same identity.
    off = await asyncio.to_thread(ocfaj, gateway, "offboard", str(record.uuid))
    assert off.returncode == 0, (off.stdout, off.stderr)
    rows = await wait_rows(gateway, not_bridgeable("Porch"), "Porch not bridgeable again",
                           gateway_factory, 20.0)
    assert len([row for row in rows if row["name"] == "Porch"]) == 1, rows
    await consumer.wait_gone(again.unique_name)
    assert f"no longer holding a key for OCF device {record.uuid}" in gateway.log()


async def test_unowned_devices_found_by_multicast_and_owned_over_the_control_interface(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways, consumer: Consumer,
        dbus_daemon: DBusDaemon, ocf_network: OcfNetwork) -> None:
    if not ocf_network.multicast:
        pytest.fail("multicast discovery of unowned devices needs the netns OCF network "
                    "(run the tests isolated: ./scripts/test)")
    porch = ocf_device("light", "Porch", secure=True)
    ocf_device("light", "Lamp")  # plaintext: has no doxm, stays silent
    gateway = await asyncio.to_thread(gateway_factory, "gw")
    logs = gateway_factory.logs
    device = porch.facts["deviceuuid"]

    # The CLI lists what answered the multicast doxm?owned=FALSE, with its methods.
    listed = await asyncio.to_thread(ocfaj, gateway, "onboard")
    assert listed.returncode == 0, listed
    assert "1 unowned OCF devices answered" in listed.stdout, listed.stdout
    assert f"{device}  Porch  coap://" in listed.stdout
    assert "ownership method 1: Random PIN" in listed.stdout
    # A unicast doxm whose filter does not match gets 4.00 (multicast: silence).
    client = OcfClient(5.0, 65536)
    await client.start()
    try:
        with pytest.raises(DeviceError) as mismatch:
            await client.get(parse_endpoint(porch.endpoint), "/oic/sec/doxm",  # type: ignore[arg-type]
                             ("owned=TRUE",))
        assert mismatch.value.code == 400
    finally:
        await client.shutdown()

    # The same over the control interface, then ownership through it.
    found = await query(dbus_daemon.address, "gw", "FindUnowned")
    assert [d["uuid"] for d in found] == [device], found
    assert found[0]["oxms"] == [{"oxm": 1, "method": "Random PIN"}]
    with pytest.raises(ConnectionError, match="wrong PIN"):
        await query(dbus_daemon.address, "gw", "Onboard", 60.0,
                    (device, "00000000" if porch.facts["pin"] != "00000000" else "11111111"))
    owned = await query(dbus_daemon.address, "gw", "Onboard", 60.0,
                        (device, porch.facts["pin"]))
    assert owned["name"] == "Porch" and owned["uuid"] != device
    assert "owned over the control interface" in gateway.log()
    await wait_rows(gateway, bridged("Porch"), "Porch bridged over coaps", gateway_factory,
                    20.0)
    await consumer.wait_app("Porch", virtual=True)
    # Owned now: it no longer answers the multicast for unowned devices.
    again = await asyncio.to_thread(ocfaj, gateway, "onboard")
    assert "0 unowned OCF devices answered" in again.stdout, again

    # Its user resets it: the gateway notices, drops the credential, lists it not bridgeable.
    await asyncio.to_thread(porch.reset)
    await wait_rows(gateway, not_bridgeable("Porch"), "Porch not bridgeable after its reset",
                    gateway_factory, 20.0)
    assert f"({owned['uuid']}) was reset by its user" in gateway.log(), logs()
    assert OcfCredentials(gateway.state_dir).load().devices == {}
    listed = await asyncio.to_thread(ocfaj, gateway, "onboard")
    assert f"{porch.facts['deviceuuid']}  Porch" in listed.stdout, listed
