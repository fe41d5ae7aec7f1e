"""Fixtures of the end-to-end tests: the real ``ocfaj run`` between simulated devices.

Layout of every test (all inside the private network namespace of ``tests/conftest.py``):

- ``ocf_network``: the bridge ``ocfbr0``; the test process is the OCF client on it
  (169.254.0.1) and multicasts discovery there, never on a real interface;
- each gateway runs in a host namespace of its own (``rig.start_gateway("gw")``), configured
  with a TOML file: OCF on ``eth0`` with one-second discovery rounds, AllJoyn on the private
  ``dbus_daemon`` (a unix socket, reachable from every namespace), a short grace period;
- each OCF simulator runs in a host namespace of its own (``rig.ocf_sim("Lamp")``), AllJoyn
  simulators run on the private bus (``rig.alljoyn_sim("Thermo")``);
- the test process is also the AllJoyn consumer (``tests.e2e.alljoyn_consumer``).

Timers are shrunk (discovery every second, two missed rounds) so departures show quickly; the
tests poll with deadlines and never assert on durations beyond what the configuration promises.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiocoap import Context

from bridge.sim.processes import GatewayProcess, SimProcess
from tests.e2e.alljoyn_consumer import Consumer
from tests.harness.dbus import DBusDaemon
from tests.harness.netns import Host, OcfNetwork

DISCOVERY_INTERVAL = 1.0
MISSED_ROUNDS = 2
GRACE_PERIOD = 2.0
#: How long a departed device may take to be noticed, by the configuration's own promise.
DETECTION_TIME = DISCOVERY_INTERVAL * (MISSED_ROUNDS + 1)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def gateway_config(name: str, state_dir: Path, bus: str,
                   overrides: dict[str, dict[str, Any]] | None = None) -> str:
    sections: dict[str, dict[str, Any]] = {
        "gateway": {"name": name, "state_dir": str(state_dir), "log_level": "debug"},
        "ocf": {"interfaces": ["eth0"], "discovery_interval": DISCOVERY_INTERVAL,
                "missed_rounds": MISSED_ROUNDS, "request_timeout": 2.0},
        "alljoyn": {"bus": bus, "call_timeout": 3.0, "scan_timeout": 1.0,
                    "reconnect_max_delay": 1.0},
        "bridge": {"virtual_grace_period": GRACE_PERIOD},
    }
    for section, values in (overrides or {}).items():
        sections.setdefault(section, {}).update(values)
    return "\n".join(f"[{section}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
                     for section, values in sections.items())


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


@pytest.fixture
async def consumer(dbus_daemon: DBusDaemon) -> AsyncIterator[Consumer]:
    """The test's AllJoyn consumer on the private bus."""
    bus_consumer = await Consumer.connect(dbus_daemon.address)
    yield bus_consumer
    bus_consumer.close()


@pytest.fixture
async def coap() -> AsyncIterator[Context]:
    """An aiocoap client context of the test process (reaches ocfbr0's hosts)."""
    ctx = await Context.create_client_context()
    yield ctx
    await ctx.shutdown()
