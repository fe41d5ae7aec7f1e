"""One OCF and one AllJoyn simulated device bridged by a real gateway process, on loopback.

Layer: benchmark tooling. The simulators run in the benchmark's own event loop (they are the
same code users test against, ``bridge.sim``); the gateway is the real ``ocfaj run`` in a
subprocess on a private dbus-daemon, reaching the OCF device by unicast on 127.0.0.1 (no
multicast, so nothing leaves loopback). Used by the latency and notification benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from dbus_fast.aio import MessageBus

from bench import rig
from bridge.alljoyn.bus import connect, parse_bus
from bridge.model import load_catalogue
from bridge.sim.alljoyn import AllJoynSimServer
from bridge.sim.device import SimDevice
from bridge.sim.ocf import OcfSimServer, SimListing
from bridge.sim.testing.procs import free_udp_port

OCF_NAME = "Bench OCF device"
ALLJOYN_NAME = "Bench AllJoyn device"


@dataclass
class Pair:
    """Handles on both devices, their bridged copies and the gateway."""

    gateway: rig.Gateway
    bus: MessageBus
    coap: rig.CoapClient
    ocf_sim: OcfSimServer
    alljoyn_sim: AllJoynSimServer
    ocf_uri: str
    """The OCF simulator itself (``coap://127.0.0.1:port``)."""
    alljoyn_name: str
    """Unique bus name of the AllJoyn simulator."""
    virtual_alljoyn: str
    """Unique bus name of the gateway's AllJoyn copy of the OCF device."""
    virtual_ocf: str
    """Endpoint of the gateway's OCF copy of the AllJoyn device."""
    mqtt_port: int


@contextlib.asynccontextmanager
async def bridged_pair(directory: Path, capabilities: list[str], *,
                       mqtt: bool = False, event_loop: str = "asyncio",
                       ocf_extra: str = "") -> AsyncIterator[Pair]:
    """Start everything, wait until both copies exist, yield; tear it all down after.
    ``event_loop``: the gateway's ``[gateway] event_loop``; ``ocf_extra``: more ``[ocf]``
    lines (TOML)."""
    catalogue = load_catalogue()
    with contextlib.ExitStack() as stack:
        bus_daemon = stack.enter_context(rig.private_bus(directory))
        mqtt_port = stack.enter_context(rig.broker(directory)).port if mqtt else 0
        ocf_sim = OcfSimServer(SimDevice(OCF_NAME, catalogue, capabilities),
                               SimListing(("lo",), free_udp_port()), bind_host="127.0.0.1")
        facts = await ocf_sim.start()
        alljoyn_sim = AllJoynSimServer(SimDevice(ALLJOYN_NAME, catalogue, capabilities),
                                       parse_bus(bus_daemon.address))
        sim_facts = await alljoyn_sim.start()
        ocf_uri = f"coap://127.0.0.1:{facts['port']}"
        gateway = rig.Gateway(rig.GatewaySettings(bus=bus_daemon.address, ocf_peers=(ocf_uri,),
                                                  mqtt_port=mqtt_port, event_loop=event_loop,
                                                  ocf_extra=rig.GatewaySettings.ocf_extra
                                                  + ocf_extra),
                              directory / "gateway")
        bus: MessageBus | None = None
        try:
            await asyncio.to_thread(gateway.start)
            bus = await connect(parse_bus(bus_daemon.address))
            async with rig.CoapClient() as coap:
                virtual_alljoyn = await rig.wait_for_app(bus, OCF_NAME)
                virtual_ocf = await coap.wait_for_device(
                    f"coap://127.0.0.1:{gateway.server_port}", ALLJOYN_NAME)
                yield Pair(gateway, bus, coap, ocf_sim, alljoyn_sim, ocf_uri,
                           str(sim_facts["unique_name"]), virtual_alljoyn, virtual_ocf,
                           mqtt_port)
        finally:
            if bus is not None:
                bus.disconnect()
            await asyncio.to_thread(gateway.stop)
            await alljoyn_sim.stop()
            await ocf_sim.stop()
