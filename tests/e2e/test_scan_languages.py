"""Issue 21 point 1: a producer that refuses ``GetAboutData("")`` and announced before the
gateway started is found by the start-up scan (``[alljoyn] scan_languages``), under the real
``ocfaj run`` and the ``ocfaj simulate alljoyn --refuse-empty-language`` simulator."""

from __future__ import annotations

import asyncio

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateways import TestGateways


async def test_scan_finds_an_early_producer_that_refuses_the_default_language(
        alljoyn_device: DeviceFactory, gateway_factory: TestGateways) -> None:
    alljoyn_device("light", "Early Lamp", behaviour={"refuse_empty_language": True})
    # Ready is signalled once the AllJoyn side's start-up scan is done; the lamp's only
    # Announce went out before the gateway listened.
    gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    rows = await asyncio.to_thread(gateway.devices)
    lamps = [row for row in rows if row["origin"] == "alljoyn" and row["name"] == "Early Lamp"]
    assert len(lamps) == 1, (rows, gateway_factory.logs())
    assert lamps[0]["available"] is True
