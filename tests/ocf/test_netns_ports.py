"""Every OCF server endpoint bound to an ephemeral port has that port to itself.

aiocoap binds its server sockets with SO_REUSEPORT, and Linux hands a socket with that option
which binds port 0 a port that another such socket of the same user already holds: the two
then share the port's datagrams. Two simulated devices of one process (or two virtual devices
of the gateway) on one port made one of them unreachable: every request to the port reached
the other, and the gateway never read the first one, without a warning. The hosts here get a
short ephemeral port range, so that a shared port is all but certain without the fix.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import sys
import textwrap

import pytest

from bridge.core.registry import Registry
from bridge.ocf.coap_server import CoapEndpoint
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


_ENDPOINTS_AT_ONCE = _ENDPOINTS.replace(
    "ports = [await endpoint.start() for endpoint in endpoints]",
    "ports = await asyncio.gather(*(endpoint.start() for endpoint in endpoints))")


def test_endpoints_started_at_once_each_have_their_own_port(ocf_network: OcfNetwork) -> None:
    # The gateway starts its virtual devices several at a time; between the probe that
    # finds a free port and the bind, another endpoint's probe may be handed the same port.
    host = crowded_host(ocf_network, "gateway")
    for _ in range(3):
        done = host.run([sys.executable, "-c", _ENDPOINTS_AT_ONCE], check=True,
                        capture_output=True, text=True, timeout=60)
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


async def test_a_device_that_answers_for_another_is_reported_not_merged(
        ocf_network: OcfNetwork, ocf_side: SideFactory, registry: Registry,
        caplog: pytest.LogCaptureFixture) -> None:
    # Two processes told to serve their device at the same port share it (both sockets have
    # SO_REUSEPORT): every request to the port reaches one of them. The other is listed at
    # that port, but what answers there is not it.
    host = ocf_network.add_host("shared")
    sims = [SimProcess(host, "light", name, "--device-port", "40100")
            for name in ("Left", "Right")]
    ready = {name: sim.expect("ready") for name, sim in zip(("Left", "Right"), sims,
                                                             strict=True)}
    assert {event["port"] for event in ready.values()} == {40100}
    caplog.set_level(logging.WARNING, "ocfaj.ocf.devices")

    def reported() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if "is another device's" in r.getMessage()]

    side = await ocf_side()
    await await_until(lambda: len(list(registry)) == 1 and reported(), timeout=30)
    await side.next_round()
    await side.next_round()
    things = list(registry)
    assert len(things) == 1, [t.info.name for t in things]
    thing = things[0]
    answering = ready[thing.info.name]
    silent = next(e for name, e in ready.items() if name != thing.info.name)
    # Bridged under its own identity, not under the other device's listed di.
    assert thing.identity.di == answering["di"] and thing.id == f"ocf:{answering['piid']}"
    assert all(silent["di"] in text and answering["di"] in text for text in reported())
    assert side.devices is not None and silent["di"] not in side.devices.by_di
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_no_later_socket_can_join_an_endpoints_port() -> None:
    # What aiocoap does for another server that is told this port: SO_REUSEPORT, then bind.
    endpoint = CoapEndpoint(None)
    port = await endpoint.start()
    try:
        joiner = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            joiner.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            joiner.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            with pytest.raises(OSError) as refused:
                joiner.bind(("::", port))
            assert refused.value.errno == errno.EADDRINUSE
        finally:
            joiner.close()
    finally:
        await endpoint.shutdown()
