"""The gateway's virtual OCF devices of simulated AllJoyn lamps, secured or not, on loopback.

Layer: benchmark tooling. The lamps are one ``ocfaj simulate alljoyn`` process on a private
dbus-daemon; the gateway is the real ``ocfaj run`` (``bench.rig.Gateway``), with ``[ocf]
secure_virtual_devices`` on or off. With security on, the simulator's onboarding tool
(``bridge.sim.ocf_obt``) owns the bridge device first, then each virtual device (their PINs
read from the gateway's control interface, as ``ocfaj devices`` shows them), and provisions
one client with a pairwise key and an ACE for every resource: the client the benchmark
measures with.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import rig
from bridge.alljoyn.control import query
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import Endpoint, group_by_device, parse_endpoint, parse_res, select_endpoint
from bridge.ocf.sec_keys import nul_free_uuid
from bridge.sim.ocf_obt import OnboardingTool, client_ace
from bridge.sim.processes import SimProcess

LAMP = "Bench lamp"
GATEWAY_NAME = "bench"


@dataclass(frozen=True)
class Virtual:
    """One device in the gateway's ``/oic/res``: its name, uuid and endpoints."""

    name: str
    di: str
    plain: Endpoint
    secure: Endpoint | None


@dataclass
class VirtualRig:
    gateway: rig.Gateway
    devices: dict[str, Virtual]
    """Every virtual device (not the bridge device) by name."""
    client: uuid.UUID = field(default_factory=nul_free_uuid)
    keys: dict[uuid.UUID, bytes] = field(default_factory=dict)
    """The provisioned client's pairwise key per owned device uuid."""
    rss_before_owning: float = 0.0
    """The gateway's RSS (MiB) once every device was listed, before any was owned."""

    def keyring(self) -> Keyring:
        return Keyring(self.client, dict(self.keys))


def lamp_names(count: int) -> list[str]:
    """The names ``ocfaj simulate alljoyn --count`` gives; the first is the one measured."""
    return [LAMP] if count == 1 else [f"{LAMP} {i}" for i in range(1, count + 1)]


async def listed(server: Endpoint) -> dict[str, Virtual]:
    """Every device of the gateway's ``/oic/res`` (the bridge device included), by name."""
    client = OcfClient(5.0, 8 * 1024 * 1024)
    await client.start()
    try:
        links = parse_res(await client.get(server, "/oic/res"), server)
        found: dict[str, Virtual] = {}
        for di, mine in group_by_device(links).items():
            eps = [ep for link in mine if link.href == "/oic/d" for ep in link.eps]
            plain = select_endpoint(eps)
            if plain is None:
                continue
            info = await client.get(plain, "/oic/d")
            found[str(info.get("n", ""))] = Virtual(str(info.get("n", "")), di, plain,
                                                    select_endpoint(eps, secure=True))
        return found
    finally:
        await client.shutdown()


async def wait_listed(server: Endpoint, names: list[str], within: float = 60.0
                      ) -> dict[str, Virtual]:
    deadline = time.monotonic() + within
    seen: dict[str, Virtual] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            seen = await listed(server)
            if all(name in seen for name in names):
                return seen
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the gateway listed {sorted(seen)} within {within} s, not {names}")


async def pins(bus: str) -> dict[str, str]:
    """The Random PIN of every unowned secured device the gateway shows, by name."""
    rows: list[dict[str, Any]] = await query(bus, GATEWAY_NAME, "ListDevices")
    return {str(row["name"]): str(row["ocf_security"]["pin"]) for row in rows
            if isinstance(row.get("ocf_security"), dict) and "pin" in row["ocf_security"]}


async def wait_pins(bus: str, names: list[str], within: float = 30.0) -> dict[str, str]:
    deadline = time.monotonic() + within
    found: dict[str, str] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(ConnectionError, TimeoutError):
            found = await pins(bus)
            if all(name in found for name in names):
                return found
        await asyncio.sleep(0.2)
    raise TimeoutError(f"PINs of {sorted(found)} shown within {within} s, not of {names}")


async def own_and_provision(bus: str, server: Endpoint, names: list[str],
                            virtual: VirtualRig) -> None:
    """The onboarding tool owns the bridge device, then every device of ``names``, and
    provisions the benchmark's client on each."""
    shown = await wait_pins(bus, [GATEWAY_NAME, *names])
    devices = await wait_listed(server, [GATEWAY_NAME, *names])
    tool = OnboardingTool(request_timeout=10.0)

    async def own(name: str) -> Any:
        device = devices[name]
        assert device.secure is not None, f"{name} lists no coaps endpoint"
        return await tool.own(device.plain, device.secure, shown[name])

    await own(GATEWAY_NAME)
    for name in names:  # one at a time: each transfer writes the gateway's state
        owned = await own(name)
        virtual.keys[owned.uuid] = await tool.provision(owned, virtual.client,
                                                        [client_ace(virtual.client)])
    virtual.devices = {name: v for name, v in (await listed(server)).items()
                       if name != GATEWAY_NAME}


@contextlib.asynccontextmanager
async def virtual_lamps(directory: Path, count: int, *, secure: bool) -> AsyncIterator[
        VirtualRig]:
    """``count`` AllJoyn lamps bridged to OCF by a gateway; secured and owned if ``secure``."""
    names = lamp_names(count)
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    with rig.private_bus(directory) as bus:
        lamps = SimProcess(["alljoyn", "--bus", bus.address, "--model", "light", "--name",
                            LAMP, "--count", str(count)], log_path=directory / "lamps.log")
        lamps.start(ready=count, within=60.0)
        extra = rig.GatewaySettings.ocf_extra + (
            "secure_virtual_devices = true\n" if secure else "")
        # No multicast interface: two of these gateways run at once, and neither is to
        # discover the other's devices.
        gateway = rig.Gateway(rig.GatewaySettings(bus=bus.address, ocf_interfaces=(),
                                                  ocf_extra=extra),
                              directory / ("secured" if secure else "plain"))
        try:
            await asyncio.to_thread(gateway.start)
            server = parse_endpoint(f"coap://127.0.0.1:{gateway.server_port}")
            assert server is not None
            virtual = VirtualRig(gateway, {})
            if secure:
                await wait_listed(server, [GATEWAY_NAME, *names])
                virtual.rss_before_owning = gateway.rss_mib()
                await own_and_provision(bus.address, server, names, virtual)
            else:
                virtual.devices = {n: v for n, v in (await wait_listed(server, names)).items()
                                   if n in names}
            yield virtual
        finally:
            await asyncio.to_thread(gateway.stop)
            lamps.stop()
