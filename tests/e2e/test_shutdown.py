"""Issue 5 point 1, the clean stop: SIGTERM withdraws every virtual device (AllJoyn consumers
see the producers leave the bus), publishes the gateway ``offline`` on MQTT, and exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import tomllib
from typing import Any

import aiomqtt

from bridge.daemon.config import parse_config
from bridge.daemon.gateway import Gateway
from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing import Mosquitto
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.gateway import config_for_tests
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.kit import KitState
from bridge.sim.testing.procs import await_until, free_udp_port
from tests.e2e.alljoyn_consumer import Consumer
from tests.e2e.conftest import THERMOSTAT
from tests.e2e.waiting import HasLogs

BRIDGE_STATE = "ocfaj/bridge/state"


class Retained:
    """The last payload per topic under ``ocfaj/#``, as an MQTT subscriber sees them."""

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}

    async def run(self, client: aiomqtt.Client) -> None:
        await client.subscribe("ocfaj/#", qos=1)
        async for message in client.messages:
            payload = message.payload
            text = payload.decode() if isinstance(payload, bytes | bytearray) else str(payload)
            with contextlib.suppress(ValueError):
                self.last[str(message.topic)] = json.loads(text) if text else None

    async def wait(self, topic: str, value: Any, gateways: HasLogs, within: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.last.get(topic) != value:
            if loop.time() > deadline:
                raise AssertionError(f"{topic} is {self.last.get(topic)!r}, not {value!r}; "
                                     f"topics: {sorted(self.last)}\n{gateways.logs()}")
            await asyncio.sleep(0.05)


async def test_sigterm_withdraws_virtual_devices_and_publishes_offline(
        ocf_device: DeviceFactory, alljoyn_device: DeviceFactory,
        gateway_factory: TestGateways, consumer: Consumer, mosquitto: Mosquitto) -> None:
    ocf_device("light", "Lamp")
    alljoyn_device(THERMOSTAT, "Thermo")
    # On the local side, where the broker on 127.0.0.1 is.
    gateway = await asyncio.to_thread(gateway_factory, "gw", mqtt={
        "enabled": True, "host": mosquitto.host, "port": mosquitto.port})
    retained = Retained()
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
        task = asyncio.create_task(retained.run(client))
        try:
            await retained.wait(BRIDGE_STATE, {"state": "online"}, gateway_factory)
            app = await consumer.wait_app("Lamp", virtual=True)
            assert gateway.stop() == 0, gateway_factory.logs()
            await consumer.wait_gone(app.unique_name)
            await retained.wait(BRIDGE_STATE, {"state": "offline"}, gateway_factory)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert not [a for a in await consumer.scan() if a.virtual], "virtual devices left behind"
    log = gateway.log()
    assert "stopping on request" in log and "gateway gw stopped" in log, log[-3000:]


async def test_shutdown_leaves_no_task_pending(
        ocfaj_kit: KitState, ocf_device: DeviceFactory, alljoyn_device: DeviceFactory,
        dbus_daemon: DBusDaemon, mosquitto: Mosquitto) -> None:
    """Every task the gateway started is over when its shutdown returns: none is left for
    the loop's close to cancel, and none is destroyed pending when the garbage collector
    finds it unreachable (asyncio's "Task was destroyed but it is pending!"). In-process, so
    that the test can look at the loop's tasks right after the shutdown."""
    ocf_device("light", "Lamp")
    alljoyn_device(THERMOSTAT, "Thermo")
    network = ocfaj_kit.network
    peers, port = ([], 5683) if network.multicast else (
        [f"coap://{network.local.ipv4}:{p}" for p in ocfaj_kit.loopback_ports()],
        free_udp_port())
    config = parse_config(tomllib.loads(config_for_tests(
        "gw", ocfaj_kit.tmp / "gw-state", dbus_daemon.address, network.local.ifname,
        server_port=port, unicast_peers=peers,
        overrides={"mqtt": {"host": mosquitto.host, "port": mosquitto.port}})), env={})
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(
        f"{context['message']} {context.get('task')!r}"))
    before = asyncio.all_tasks()
    gateway = Gateway(config)
    try:
        await gateway.start()

        def bridged() -> bool:
            names = {t.info.name for t in gateway.registry if t.available}
            parts = gateway.describe_gateway()["parts"]
            # And connected to the broker: a stop during the connect itself leaves a task of
            # aiomqtt's behind (its wait for CONNACK, cancelled, does not end it), which this
            # test is not about.
            return ({"Lamp", "Thermo"} <= names and parts["ocf"]["virtual"] >= 1
                    and parts["alljoyn"]["virtual_producers"] >= 1
                    and parts["mqtt"]["connected"])

        await await_until(bridged, timeout=20.0,
                          message="Lamp and Thermo bridged and the broker connected")
    finally:
        await gateway.shutdown()
        try:
            # What nothing refers to any more is collected here, as a collection during
            # shutdown or the loop's close would.
            gc.collect()
            left = [repr(task) for task in asyncio.all_tasks() - before]
        finally:
            loop.set_exception_handler(previous)
    assert not [m for m in reported if "destroyed" in m], reported
    assert not left, left
