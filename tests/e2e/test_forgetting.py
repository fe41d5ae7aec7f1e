"""Issue 13 point 6: gone devices do not pile up. A device gone for ``bridge.forget_after``
seconds is forgotten everywhere: ``ocfaj devices`` no longer lists it, its virtual copies
leave AllJoyn and OCF, and the broker keeps no retained topic of it (state, availability,
light, Home Assistant discovery), also when the gateway restarted while it was gone. 0 keeps
gone devices."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiocoap import Context

from bridge.mqtt.hass import node_id
from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing import Mosquitto
from bridge.sim.testing.gateway import TestGateway
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.alljoyn_consumer import Consumer
from tests.e2e.conftest import DETECTION_TIME, THERMOSTAT
from tests.e2e.waiting import HasLogs, is_virtual, virtual_ocf_device, wait_devices
from tests.mqtt.retained import retained_now

#: ``bridge.forget_after`` of the test gateway.
FORGET_AFTER = 2.0
#: Slack over the configuration's promises: a reply window and a request timeout per round.
MARGIN = 6.0


def topics_of(topics: dict[str, bytes], row: dict[str, Any], friendly: str) -> list[str]:
    """The device's retained topics: under its friendly name, and its discovery documents."""
    node = node_id(row["id"])
    return sorted(t for t in topics if t == f"ocfaj/{friendly}"
                  or t.startswith(f"ocfaj/{friendly}/") or f"/{node}/" in t)


async def wait_rows(gateway: TestGateway, predicate: Any, what: str, gateways: HasLogs,
                    within: float) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        rows = await asyncio.to_thread(gateway.devices)
        if predicate(rows):
            return rows
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}; devices: "
                                 f"{[(r['name'], r['available']) for r in rows]}\n"
                                 f"{gateways.logs()}")
        await asyncio.sleep(0.2)


async def wait_retained(mosquitto: Mosquitto, predicate: Any, what: str,
                        within: float = 20.0) -> dict[str, bytes]:
    """What the broker holds, once ``predicate`` accepts it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate(held := await retained_now(mosquitto.host, mosquitto.port)):
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}: {sorted(held)}")
        await asyncio.sleep(0.2)
    return held


def named(rows: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((row for row in rows if row["name"] == name), None)


async def test_gone_devices_are_forgotten_everywhere(
        ocf_device: DeviceFactory, alljoyn_device: DeviceFactory,
        gateway_factory: TestGateways, consumer: Consumer, coap: Context,
        mosquitto: Mosquitto) -> None:
    lamp = ocf_device("light", "Lamp")
    thermo = alljoyn_device(THERMOSTAT, "Thermo")
    # On the local side, where the broker on 127.0.0.1 is.
    gateway = await asyncio.to_thread(
        gateway_factory, "gw", bridge={"forget_after": FORGET_AFTER},
        mqtt={"enabled": True, "host": mosquitto.host, "port": mosquitto.port})
    app = await consumer.wait_app("Lamp", virtual=True)
    await virtual_ocf_device(coap, "Thermo", gateway_factory)
    rows = await wait_rows(gateway, lambda r: named(r, "Lamp") and named(r, "Thermo"),
                           "both devices", gateway_factory, 20.0)
    lamp_row, thermo_row = named(rows, "Lamp"), named(rows, "Thermo")
    assert lamp_row is not None and thermo_row is not None
    # The rows show before the broker has every retained topic: wait for them, then look.

    def published(held: dict[str, bytes]) -> bool:
        return "ocfaj/lamp/availability" in held and all(
            any(t.startswith("homeassistant/") for t in topics_of(held, row, friendly))
            for row, friendly in ((lamp_row, "lamp"), (thermo_row, "thermo")))

    before = await wait_retained(mosquitto, published, "both devices' retained topics")
    lamp_topics = topics_of(before, lamp_row, "lamp")
    thermo_topics = topics_of(before, thermo_row, "thermo")
    assert "ocfaj/lamp/availability" in lamp_topics, sorted(before)
    assert any(t.startswith("homeassistant/") for t in lamp_topics), sorted(before)
    assert any(t.startswith("homeassistant/") for t in thermo_topics), sorted(before)

    await asyncio.to_thread(lamp.leave)
    await asyncio.to_thread(thermo.leave)
    await wait_rows(gateway, lambda r: not named(r, "Lamp") and not named(r, "Thermo"),
                    "both devices forgotten", gateway_factory,
                    DETECTION_TIME + FORGET_AFTER + MARGIN)

    # Virtual copies: the Lamp's AllJoyn producer and the Thermo's OCF device are gone.
    await consumer.wait_gone(app.unique_name)
    assert "Lamp" not in [a.name for a in await consumer.scan()]
    await wait_devices(coap, lambda found: not any(
        info.get("n") == "Thermo" and is_virtual(info) for _, info in found),
        gateway_factory, "the virtual OCF device Thermo withdrawn")
    # The broker keeps nothing of either device, and the device list is empty.
    after = await wait_retained(mosquitto, lambda held: not topics_of(held, lamp_row, "lamp")
                                and not topics_of(held, thermo_row, "thermo")
                                and held.get("ocfaj/bridge/devices") == b"[]",
                                "both devices' retained topics cleared")
    assert topics_of(after, lamp_row, "lamp") == [], sorted(after)
    assert topics_of(after, thermo_row, "thermo") == [], sorted(after)
    assert after.get("ocfaj/bridge/devices") == b"[]"
    log = gateway.log()
    assert f"forgetting ocf device Lamp ({lamp_row['id']}): gone for " in log, log[-3000:]
    assert f"forgetting alljoyn device Thermo ({thermo_row['id']}): gone for " in log

    # A forgotten device that answers again is a new device: bridged again, with the AllJoyn
    # AppId of its new di, since its identity entry was dropped with it.
    back = await asyncio.to_thread(lamp.come_back)
    again = await consumer.wait_app("Lamp", virtual=True, within=DETECTION_TIME + MARGIN)
    assert again.app_id.hex() == back["di"].replace("-", ""), gateway_factory.logs()
    assert again.app_id != app.app_id


async def test_zero_keeps_gone_devices(ocf_device: DeviceFactory,
                                       gateway_factory: TestGateways) -> None:
    lamp = ocf_device("light", "Lamp")
    gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                                      bridge={"forget_after": 0})
    await wait_rows(gateway, lambda r: named(r, "Lamp"), "the lamp", gateway_factory, 20.0)
    await asyncio.to_thread(lamp.leave)
    await wait_rows(gateway, lambda r: (row := named(r, "Lamp")) and not row["available"],
                    "the lamp gone", gateway_factory, DETECTION_TIME + MARGIN)
    # Three times as long as the other test's gateway took to forget, the lamp is still kept.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3 * FORGET_AFTER
    while loop.time() < deadline:
        rows = await asyncio.to_thread(gateway.devices)
        row = named(rows, "Lamp")
        assert row is not None and not row["available"], gateway_factory.logs()
        await asyncio.sleep(0.2)
    assert "forgetting" not in gateway.log()


async def test_gone_before_a_restart_is_forgotten_after_it(
        ocf_device: DeviceFactory, gateway_factory: TestGateways, mosquitto: Mosquitto) -> None:
    """The lamp leaves, the gateway stops before forgetting it, and the lamp never answers
    again: the restarted gateway, which never bridged it, still forgets it when its time is up
    (counted from when it left, stored in the identity book), clears its retained topics on
    the broker (known from the record in the state directory) and drops its identity entry."""
    lamp = ocf_device("light", "Lamp")
    gateway = await asyncio.to_thread(
        gateway_factory, "gw", bridge={"forget_after": 3600.0},
        mqtt={"enabled": True, "host": mosquitto.host, "port": mosquitto.port})
    rows = await wait_rows(gateway, lambda r: named(r, "Lamp"), "the lamp", gateway_factory,
                           20.0)
    row = named(rows, "Lamp")
    assert row is not None

    def held_of_lamp(topics: dict[str, bytes]) -> list[str]:
        return topics_of(topics, row, "lamp")

    loop = asyncio.get_running_loop()
    before = await wait_retained(mosquitto, lambda held: any(
        t.startswith("homeassistant/") for t in held_of_lamp(held)), "the lamp's discovery")
    assert {"ocfaj/lamp", "ocfaj/lamp/availability"} <= set(held_of_lamp(before))

    await asyncio.to_thread(lamp.leave)
    await wait_rows(gateway, lambda r: (found := named(r, "Lamp")) and not found["available"],
                    "the lamp gone", gateway_factory, DETECTION_TIME + MARGIN)
    identities = gateway.state_dir / "identities.json"
    # Saved within half a second of the departure, with the time it left.
    deadline = loop.time() + 10.0
    while "gone_since" not in json.loads(identities.read_text())["identities"][row["id"]]:
        assert loop.time() < deadline, identities.read_text()
        await asyncio.sleep(0.2)
    assert await asyncio.to_thread(gateway.stop) == 0
    # Still on the broker, marked offline: a stopped gateway forgets nothing.
    kept = await retained_now(mosquitto.host, mosquitto.port)
    assert set(held_of_lamp(kept)) == set(held_of_lamp(before)), sorted(kept)

    config = gateway.config_path.read_text()
    assert '"forget_after" = 3600.0' in config
    gateway.config_path.write_text(config.replace('"forget_after" = 3600.0',
                                                  f'"forget_after" = {FORGET_AFTER}'))
    await asyncio.to_thread(gateway.start)
    line = f"forgetting ocf device Lamp ({row['id']}): gone for "
    deadline = loop.time() + DETECTION_TIME + FORGET_AFTER + 4 * MARGIN
    while line not in gateway.log():
        assert loop.time() < deadline, gateway_factory.logs()
        await asyncio.sleep(0.2)

    after = await wait_retained(mosquitto, lambda held: not held_of_lamp(held),
                                "the lamp's topics cleared")
    assert after.get("ocfaj/bridge/devices") == b"[]"
    deadline = loop.time() + 10.0
    while row["id"] in json.loads(identities.read_text())["identities"]:
        assert loop.time() < deadline, identities.read_text()
        await asyncio.sleep(0.2)
    assert f"retained MQTT topics of the forgotten device {row['id']}" in gateway.log()
    assert await asyncio.to_thread(gateway.devices) == []
