"""Broker discovery by mDNS (``_mqtt._tcp``) inside network namespaces the test creates."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from bridge.discovery.broker import find_mqtt_broker
from bridge.sim.testing.mosquitto import Mosquitto
from bridge.sim.testing.netns import Host, OcfNetwork
from tests.mqtt.conftest import Recorder, SideFactory, connected

ROOT = Path(__file__).resolve().parents[2]

ANNOUNCE = """
import socket, sys, time
from zeroconf import ServiceInfo, Zeroconf
iface, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
zc = Zeroconf(interfaces=[iface])
zc.register_service(ServiceInfo("_mqtt._tcp.local.", "Test broker._mqtt._tcp.local.",
                                addresses=[socket.inet_aton(address)], port=port,
                                server="test-broker.local."))
print("announced", flush=True)
time.sleep(120)
"""

FIND = """
import asyncio, sys
from bridge.discovery.broker import find_mqtt_broker
print(asyncio.run(find_mqtt_broker(15, [sys.argv[1]])), flush=True)
"""


def announce(host: Host, address: str, port: int) -> subprocess.Popen[str]:
    proc = host.popen([sys.executable, "-c", ANNOUNCE, host.ipv4, address, str(port)],
                      cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "announced"
    return proc


async def test_broker_found_between_two_namespaces(ocf_network: OcfNetwork) -> None:
    broker_host = ocf_network.add_host("broker")
    gateway_host = ocf_network.add_host("gateway")
    announce(broker_host, broker_host.ipv4, 8883)
    found = await asyncio.to_thread(
        gateway_host.run, [sys.executable, "-c", FIND, gateway_host.ipv4], cwd=ROOT,
        capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == f"('{broker_host.ipv4}', 8883)"


async def test_nothing_announced_gives_none(ocf_network: OcfNetwork) -> None:
    assert await find_mqtt_broker(1.5, [ocf_network.local.ipv4]) is None


async def test_side_with_host_auto_connects_to_the_announced_broker(
        ocf_network: OcfNetwork, mosquitto: Mosquitto, recorder: Recorder,
        side_factory: SideFactory) -> None:
    # The announcement comes from another namespace over the test link; it points at the
    # test's broker on this namespace's loopback.
    announcer = ocf_network.add_host("announcer")
    announce(announcer, "127.0.0.1", mosquitto.port)

    async def finder() -> tuple[str, int] | None:
        return await find_mqtt_broker(15, [ocf_network.local.ipv4])

    side = await side_factory(None, host="auto", port=1, finder=finder)
    await connected(side, 30)
    assert side.status()["broker"] == f"127.0.0.1:{mosquitto.port}"
    await recorder.wait_last("ocfaj/bridge/state", {"state": "online"})
