"""Issue 5 point 3: two gateways on the same link and bus bridge each device once per gateway,
never bridge each other's virtual devices back, and the counts stay stable after the grace
period (no ping-pong)."""

from __future__ import annotations

import asyncio
from collections import Counter
from urllib.parse import urlsplit

from aiocoap import Context

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.alljoyn_consumer import App, Consumer
from tests.e2e.conftest import GRACE_PERIOD, THERMOSTAT
from tests.e2e.ocf_client import discover
from tests.e2e.waiting import named_devices


def alljoyn_census(apps: list[App]) -> Counter[tuple[str, bool]]:
    """How many applications per (name, virtual)."""
    return Counter((app.name, app.virtual) for app in apps)


async def ocf_census(coap: Context) -> Counter[tuple[str, str]]:
    """How many (anchor, host) pairs per (device name, kind) in multicast ``/oic/res``."""
    names = {device.di: (str(info.get("n")), "virtual" if "oic.d.virtual" in info.get("rt", [])
                         else "native")
             for device, info in await named_devices(coap)}
    pairs = set()
    for di, device in (await discover(coap)).items():
        for link in device.links:
            for ep in link.get("eps", []):
                pairs.add((di, urlsplit(ep["ep"]).hostname))
    return Counter(names.get(di, ("?", di)) for di, _host in pairs)


async def settled_ocf_census(coap: Context, expected: Counter[tuple[str, str]],
                             gateways: TestGateways) -> None:
    """Wait until a multicast census equals ``expected``; any census above it fails at once.

    A multicast round on a loaded machine can miss an answer (fewer entries, so it is asked
    again); a device bridged back (ping-pong) can only add entries, and that is never
    excused.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        census = await ocf_census(coap)
        extra = census - expected
        assert not extra, f"bridged more than once: {extra}\n{gateways.logs()}"
        if census == expected or loop.time() > deadline:
            break
    assert census == expected, f"{census}\n{gateways.logs()}"


async def test_two_gateways_do_not_ping_pong(
        ocf_device: DeviceFactory, alljoyn_device: DeviceFactory,
        gateway_factory: TestGateways, consumer: Consumer, coap: Context) -> None:
    ocf_device("light", "Lamp")
    alljoyn_device(THERMOSTAT, "Thermo")
    # Two hubs on one link: each needs a host of its own.
    await asyncio.to_thread(gateway_factory, "gw1", own_host=True)
    await asyncio.to_thread(gateway_factory, "gw2", own_host=True)

    expected_alljoyn = Counter({("Thermo", False): 1, ("Lamp", True): 2})
    apps = await consumer.wait_apps(lambda apps: alljoyn_census(apps) == expected_alljoyn,
                                    what=f"AllJoyn census {expected_alljoyn}")
    lamps = [app for app in apps if app.name == "Lamp"]
    # Both gateways derive the virtual identity from the same OCF device: one device to
    # AllJoyn consumers, reachable through two bridges.
    assert len({(app.app_id, app.device_id) for app in lamps}) == 1, lamps
    expected_ocf = Counter({("Lamp", "native"): 1, ("Thermo", "virtual"): 2,
                            ("gw1", "native"): 1, ("gw2", "native"): 1})
    await settled_ocf_census(coap, expected_ocf, gateway_factory)

    # Past twice the grace period every virtual copy of the other gateway has had its chance
    # to cross back; nothing did.
    await asyncio.sleep(2.5 * GRACE_PERIOD)
    assert alljoyn_census(await consumer.scan()) == expected_alljoyn, gateway_factory.logs()
    await settled_ocf_census(coap, expected_ocf, gateway_factory)
    for gateway in gateway_factory:
        log = gateway.log()
        assert "created by another bridge" in log, log[-3000:]
        # Each gateway says why the other's bridge device itself is not bridged.
        assert "is another bridge (oic.d.bridge): not bridged itself" in log, log[-3000:]
