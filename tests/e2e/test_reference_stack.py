"""Issue 13: devices that behave like the reference OCF stack stay bridged, are read once and
never flap; client applications are listed, not bridged.

Each test runs the real ``ocfaj run`` (one-second discovery rounds, two missed rounds allowed)
against simulated devices whose stack quirks (``bridge.sim.ocf_stack``) reproduce what the
reference stack does on the wire: a block-wise multicast listing with its drop rule for
unfinished transfers, IPv4 and IPv6 replies in random order, the NON duplicate window. The
rounds are counted at the device (multicast requests it saw), never guessed from time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.sim.pytest_plugin import OcfDeviceFactory
from bridge.sim.testing.devices import OcfSimulatedDevice
from bridge.sim.testing.gateway import TestGateway
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.procs import await_until, free_udp_port
from tests.e2e.alljoyn_consumer import Consumer

#: Discovery rounds each test watches (the gateway asks on IPv4 and on IPv6 in each): the
#: issue's "10+ rounds", five times the two missed rounds the gateway allows.
ROUNDS = 10
#: Rounds of the refusing-port test, each with a change of the lamp's state: three times the
#: missed rounds allowed (every round also waits out the dead ports' request timeouts).
REFUSING_ROUNDS = 6
#: A listing of one light spans several blocks of this size.
SMALL_BLOCKS = {"block_multicast_listing": True, "listing_block_size": 256}


async def rounds_pass(device: OcfSimulatedDevice, rounds: int = ROUNDS) -> None:
    """Wait until ``device`` has seen ``rounds`` more discovery rounds (two requests each)."""
    start = int((await asyncio.to_thread(device.stats)).get("multicast_requests", 0))

    async def enough() -> bool:
        stats = await asyncio.to_thread(device.stats)
        return int(stats.get("multicast_requests", 0)) >= start + 2 * rounds

    # a round lasts a second plus up to a request timeout (2 s) for what does not answer
    await await_until(enough, timeout=10.0 + rounds * 4.0)


async def row_of(gw: TestGateway, name: str) -> dict[str, Any]:
    async def present() -> bool:
        row = await asyncio.to_thread(gw.device, name, "ocf")
        return row is not None and bool(row["available"])

    await await_until(present, timeout=30.0)
    row = await asyncio.to_thread(gw.device, name, "ocf")
    assert row is not None
    return row


def departures(gateways: TestGateways, name: str) -> list[str]:
    return [line for line in gateways.logs(limit=100000).splitlines()
            if f"{name} (" in line and "is now unavailable" in line]


async def test_block_wise_multicast_listing_never_departs(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways,
        consumer: Consumer) -> None:
    lamp = ocf_device("light", "Lamp", quirks=SMALL_BLOCKS)
    gw = await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    await consumer.wait_app("Lamp", virtual=True)
    await rounds_pass(lamp)
    stats = await asyncio.to_thread(lamp.stats)
    # Every transfer the multicast answers began was finished from the discovery socket, so
    # the device never had a reason to ignore the gateway's next round.
    assert stats.get("multicast_dropped", 0) == 0, stats
    assert stats.get("transfers_finished", 0) >= ROUNDS, stats
    assert departures(gateway_factory, "Lamp") == [], gateway_factory.logs()
    row = await row_of(gw, "Lamp")
    assert row["diagnostics"]["full_reads"] == 1, row["diagnostics"]


async def test_a_dual_stack_device_answering_in_random_order_is_read_once(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways) -> None:
    lamp = ocf_device("light", "Lamp", quirks={"reply_jitter": 0.05})
    gw = await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    first = (await row_of(gw, "Lamp"))["diagnostics"]
    await rounds_pass(lamp)
    again = (await row_of(gw, "Lamp"))["diagnostics"]
    assert again["full_reads"] == 1, again
    assert again["observations_started"] == first["observations_started"], (first, again)
    assert again["endpoint"] == first["endpoint"], (first, again)
    assert departures(gateway_factory, "Lamp") == [], gateway_factory.logs()


async def test_a_refusing_port_beside_a_live_device_takes_nothing_down(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways) -> None:
    lamp = ocf_device("light", "Lamp")
    # Ports nothing listens on, on the lamp's own host: each discovery round asks them for
    # /oic/res and gets ICMP port unreachable back, beside the lamp's observations.
    dead = sorted({free_udp_port("0.0.0.0") for _ in range(4)} - {lamp.facts["port"], 5683})
    peers = [f"coap://{lamp.address}:{port}" for port in dead]
    gw = await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                                 ocf={"unicast_peers": peers})
    await row_of(gw, "Lamp")
    for level in range(REFUSING_ROUNDS):
        # the lamp keeps notifying while the dead ports refuse
        await asyncio.to_thread(lamp.set, "brightness", {"brightness": 10 + level})
        await rounds_pass(lamp, 1)
    row = await row_of(gw, "Lamp")
    assert departures(gateway_factory, "Lamp") == [], gateway_factory.logs()
    assert row["diagnostics"]["full_reads"] == 1, row["diagnostics"]
    assert row["capabilities"]["brightness"]["state"] == {"brightness": 10 + REFUSING_ROUNDS - 1}


async def test_a_client_application_is_listed_but_not_bridged(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways,
        consumer: Consumer) -> None:
    ocf_device("light", "Lamp")
    phone = ocf_device("light", "Phone", quirks={"client_only": True})
    gw = await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    await consumer.wait_app("Lamp", virtual=True)
    row = await row_of(gw, "Phone")
    assert "no resource to bridge" in row["not_bridgeable"], row
    assert row["bridged_to"] == [] and row["capabilities"] == {}, row
    assert "Phone" not in [app.name for app in await consumer.scan()]
    # When it exits it is just gone: no virtual copy to withdraw, no warning about one.
    await asyncio.to_thread(phone.stop)

    async def gone() -> bool:
        row = await asyncio.to_thread(gw.device, "Phone", "ocf")
        return row is not None and not row["available"]

    await await_until(gone, timeout=30.0)
    warnings = [line for line in gateway_factory.logs(limit=100000).splitlines()
                if "Phone" in line and ("WARNING" in line or "ERROR" in line)]
    assert warnings == [], warnings


async def test_the_reference_stack_double_with_every_behaviour_at_once(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways,
        consumer: Consumer) -> None:
    reference = {"reference": True, "listing_block_size": 256}
    lamp = ocf_device("light", "Lamp", quirks=reference)
    sensor = ocf_device("sensor", "Hall", quirks=reference)
    plug = ocf_device("switch", "Plug", quirks=reference)
    ocf_device("light", "Phone", quirks={**reference, "client_only": True})
    gw = await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    for name in ("Lamp", "Hall", "Plug"):
        await consumer.wait_app(name, virtual=True)
    first_plug = await row_of(gw, "Plug")
    # The plug restarts at once: a fresh di and fresh ports, the same piid.
    before = plug.facts
    await asyncio.to_thread(plug.leave)
    after = await asyncio.to_thread(plug.come_back)
    assert after["di"] != before["di"] and after["port"] != before["port"]
    assert after["piid"] == before["piid"]

    async def plug_moved() -> bool:
        row = await asyncio.to_thread(gw.device, "Plug", "ocf")
        return row is not None and row["di"] == after["di"]

    await await_until(plug_moved, timeout=30.0)
    await rounds_pass(lamp)
    rows = {name: await row_of(gw, name) for name in ("Lamp", "Hall", "Plug", "Phone")}
    assert rows["Plug"]["id"] == first_plug["id"]
    for name in ("Lamp", "Hall"):
        assert rows[name]["diagnostics"]["full_reads"] == 1, (name, rows[name])
        assert departures(gateway_factory, name) == [], gateway_factory.logs()
    # one read per start of the plug, never declared gone in between
    assert rows["Plug"]["diagnostics"]["full_reads"] == 2, rows["Plug"]
    assert rows["Phone"]["not_bridgeable"] and rows["Phone"]["bridged_to"] == []
    for device in (lamp, sensor):
        stats = await asyncio.to_thread(device.stats)
        assert stats.get("multicast_dropped", 0) == 0, stats
    assert sorted(app.name for app in await consumer.scan()
                  if app.name in ("Lamp", "Hall", "Plug", "Phone")) == ["Hall", "Lamp", "Plug"]
