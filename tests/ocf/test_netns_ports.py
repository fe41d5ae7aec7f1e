"""Every OCF server endpoint bound to an ephemeral port has that port to itself.

aiocoap binds its server sockets with SO_REUSEPORT, and Linux hands a socket with that option
which binds port 0 a port that another such socket of the same user already holds: the two
then share the port's datagrams. Two simulated devices of one process (or two virtual devices
of the gateway) on one port made one of them unreachable: every request to the port reached
the other, and the gateway never read the first one, without a warning. The hosts here get a
short ephemeral port range, so that a shared port is all but certain without the fix.
"""

from __future__ import annotations

import json
import sys
import textwrap

from bridge.core.registry import Registry
from bridge.sim.testing.netns import Host, OcfNetwork
from bridge.sim.testing.procs import await_until
from tests.ocf.conftest import SideFactory
from tests.ocf.simproc import SimProcess

#: Servers started, and the ephemeral ports their host offers (a few more than servers: the
#: endpoints also open short-lived sockets that take one).
SERVERS = 8
RANGE = (40000, 40011)


def crowded_host(network: OcfNetwork, name: str) -> Host:
    """A host whose ephemeral port range has room for :data:`SERVERS` sockets and a few."""
    host = network.add_host(name)
    host.run(["sh", "-c", f"echo {RANGE[0]} {RANGE[1]} > "
                          "/proc/sys/net/ipv4/ip_local_port_range"],
             check=True, capture_output=True)
    return host


async def test_devices_of_one_process_each_have_their_own_port(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry) -> None:
    sim = SimProcess(crowded_host(ocf_network, "crowded"), "light", "Bulb",
                     "--count", str(SERVERS))
    ready = [sim.expect("ready") for _ in range(SERVERS)]
    ports = [event["port"] for event in ready]
    await ocf_side()
    # Each device is read at its own port: none answers for another, none is left out.
    await await_until(lambda: len(list(registry)) == SERVERS, timeout=30,
                      message=f"devices at ports {sorted(ports)}")
    assert len(set(ports)) == SERVERS, f"devices share ports: {sorted(ports)}"
    assert all(RANGE[0] <= port <= RANGE[1] for port in ports), ports
    assert sorted(t.identity.di for t in registry) == sorted(e["di"] for e in ready)
    assert sorted(t.info.name for t in registry) == sorted(
        ["Bulb"] + [f"Bulb {i}" for i in range(2, SERVERS + 1)])


_ENDPOINTS = textwrap.dedent(f"""
    import asyncio, json
    from bridge.ocf.coap_server import CoapEndpoint

    async def main():
        endpoints = [CoapEndpoint(None) for _ in range({SERVERS})]
        ports = [await endpoint.start() for endpoint in endpoints]
        print(json.dumps(ports))
        for endpoint in endpoints:
            await endpoint.shutdown()

    asyncio.run(main())
""")


def test_virtual_device_endpoints_each_have_their_own_port(ocf_network: OcfNetwork) -> None:
    # The gateway serves each virtual OCF device on its own CoapEndpoint at port 0.
    host = crowded_host(ocf_network, "gateway")
    done = host.run([sys.executable, "-c", _ENDPOINTS], check=True, capture_output=True,
                    text=True, timeout=60)
    ports = json.loads(done.stdout)
    assert len(ports) == SERVERS and len(set(ports)) == SERVERS, sorted(ports)
    assert all(RANGE[0] <= port <= RANGE[1] for port in ports), ports


def test_a_full_range_is_a_clear_error(ocf_network: OcfNetwork) -> None:
    host = ocf_network.add_host("full")
    host.run(["sh", "-c", "echo 40000 40001 > /proc/sys/net/ipv4/ip_local_port_range"],
             check=True, capture_output=True)
    done = host.run([sys.executable, "-c", _ENDPOINTS], capture_output=True, text=True,
                    timeout=60)
    assert done.returncode != 0
    assert "no free UDP port left in the ephemeral range" in done.stderr, done.stderr[-2000:]
