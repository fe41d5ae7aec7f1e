"""What the device and gateway fixtures of one test share: the OCF network, the test's
directory, numbering of hosts and files, and the ports of loopback mode.

Layer: ``bridge.sim.testing`` (test kit). It only hands out names, hosts and port numbers;
the fixtures in ``bridge.sim.pytest_plugin`` and :class:`~bridge.sim.testing.gateways.
TestGateways` start the processes.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from bridge.sim.testing.devices import SimulatedDevice
from bridge.sim.testing.netns import Host, OcfNetwork
from bridge.sim.testing.procs import free_udp_port

#: Ports the gateway polls in loopback mode; OCF devices take them in order (see ocf_device).
LOOPBACK_PORTS = 32


class KitState:
    """Shared by ``ocf_device``, ``alljoyn_device``, ``gateway`` and ``gateway_factory`` of
    one test; the devices listed in ``devices`` are stopped at teardown."""

    def __init__(self, network: OcfNetwork, tmp: Path) -> None:
        self.network = network
        self.tmp = tmp
        self.devices: list[SimulatedDevice] = []
        self._loopback_ports: list[int] = []
        self._next_port = 0
        self._numbers = itertools.count(1)

    def number(self) -> int:
        """A number unique in this test, for host and file names."""
        return next(self._numbers)

    def add_host(self, label: str, number: int) -> Host:
        """A host of its own on the OCF network, named after ``label`` (a device or gateway
        name) and ``number``, so that names never collide whatever the labels are."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")[:30] or "host"
        return self.network.add_host(f"{slug}-{number}")

    def loopback_ports(self) -> list[int]:
        """The ports the gateway polls by unicast in loopback mode, chosen once per test."""
        while len(self._loopback_ports) < LOOPBACK_PORTS:
            port = free_udp_port()
            if port not in self._loopback_ports:
                self._loopback_ports.append(port)
        return self._loopback_ports

    def take_loopback_port(self) -> int:
        ports = self.loopback_ports()
        if self._next_port >= len(ports):
            raise RuntimeError(f"loopback mode serves at most {LOOPBACK_PORTS} OCF devices "
                               "per test; run as root with --ocfaj-isolate for more")
        self._next_port += 1
        return ports[self._next_port - 1]
