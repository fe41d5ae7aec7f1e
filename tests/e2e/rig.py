"""``rig``: the end-to-end tests' former fixture, kept only for suites that still build on it.

The end-to-end tests themselves use the plugin's ``ocf_device``, ``alljoyn_device`` and
``gateway_factory``. ``tests/faults`` and ``tests/policy`` import ``rig``, :class:`Rig` and
:func:`gateway_config` from ``tests.e2e.conftest`` and reach into the rig's lists and hosts
(``rig.sims.append``, ``rig.gateways.append``, ``rig.host("lamp")`` for the host of the
simulator called "Lamp"), so this keeps that surface as it was. Gateway configurations come
from the kit's :func:`~bridge.sim.testing.gateway.config_for_tests`, the one test
configuration of the project. Once those suites move to the plugin's fixtures, this file goes.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.sim.processes import GatewayProcess, SimProcess
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.gateway import config_for_tests
from bridge.sim.testing.netns import Host, OcfNetwork


def gateway_config(name: str, state_dir: Path, bus: str,
                   overrides: dict[str, dict[str, Any]] | None = None) -> str:
    """The kit's test configuration for a gateway in a host of its own (OCF on ``eth0``)."""
    return config_for_tests(name, state_dir, bus, "eth0", overrides=overrides)


class Rig:
    """Starts gateways and simulators of one test; everything is stopped at teardown."""

    def __init__(self, network: OcfNetwork, dbus: DBusDaemon, tmp: Path) -> None:
        self.network = network
        self.dbus = dbus
        self.tmp = tmp
        self.gateways: list[GatewayProcess] = []
        self.sims: list[SimProcess] = []
        self.hosts: dict[str, Host] = {}

    def host(self, name: str) -> Host:
        if name not in self.hosts:
            self.hosts[name] = self.network.add_host(name)
        return self.hosts[name]

    def gateway(self, name: str = "gw", *, bus: str | None = None, local: bool = False,
                overrides: dict[str, dict[str, Any]] | None = None) -> GatewayProcess:
        """A gateway process (not started) in host ``name``, or with ``local`` in the test's
        own namespace on ``ocfbr0`` (where loopback services such as mosquitto are); state in
        ``tmp/<name>-state``."""
        if local:
            overrides = {**(overrides or {}), "ocf": {"interfaces": ["ocfbr0"],
                                                      **(overrides or {}).get("ocf", {})}}
        text = gateway_config(name, self.state_dir(name), bus or self.dbus.address, overrides)
        popen = subprocess.Popen if local else self.host(name).popen
        gateway = GatewayProcess(text, self.tmp, popen=popen, name=name)
        self.gateways.append(gateway)
        return gateway

    def state_dir(self, name: str) -> Path:
        return self.tmp / f"{name}-state"

    async def start_gateway(self, name: str = "gw", **kwargs: Any) -> GatewayProcess:
        gateway = self.gateway(name, **kwargs)
        await asyncio.to_thread(gateway.start, 30.0)
        return gateway

    async def ocf_sim(self, name: str, model: str = "light",
                      host: str | None = None) -> SimProcess:
        """An OCF simulator in its own host (default: a host named after the device)."""
        where = self.host(host or name.lower().replace(" ", "-"))
        sim = SimProcess(["ocf", "--model", model, "--name", name, "--interface", "eth0"],
                         popen=where.popen, log_path=self.tmp / f"sim-{name}.log")
        self.sims.append(sim)
        await asyncio.to_thread(sim.start)
        return sim

    async def alljoyn_sim(self, name: str, model: str = "thermostat") -> SimProcess:
        sim = SimProcess(["alljoyn", "--bus", self.dbus.address, "--model", model,
                          "--name", name], log_path=self.tmp / f"sim-{name}.log")
        self.sims.append(sim)
        await asyncio.to_thread(sim.start)
        return sim

    def logs(self, limit: int = 4000) -> str:
        """The tails of every gateway log, for assertion messages."""
        return "\n".join(f"--- {g.name} log (tail) ---\n{g.log()[-limit:]}"
                         for g in self.gateways)

    def close(self) -> None:
        for gateway in self.gateways:
            gateway.stop()
        for sim in self.sims:
            sim.stop()


@pytest.fixture
def rig(ocf_network: OcfNetwork, dbus_daemon: DBusDaemon, tmp_path: Path) -> Iterator[Rig]:
    setup = Rig(ocf_network, dbus_daemon, tmp_path)
    try:
        yield setup
    finally:
        setup.close()
