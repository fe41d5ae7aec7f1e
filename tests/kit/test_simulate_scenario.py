"""``ocfaj simulate --scenario`` as a process in a network namespace, and the simulator's
fault options on the command line and over JSON-lines control."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import cbor2
from aiocoap import GET, Context, Message

import bridge.sim
from bridge.sim.processes import SimProcess
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.netns import OcfNetwork

HOME = Path(bridge.sim.__file__).parent / "scenarios" / "home.toml"


async def _get(uri: str, within: float = 2.0) -> Any:
    context = await Context.create_client_context()
    try:
        return await asyncio.wait_for(context.request(Message(code=GET, uri=uri)).response,
                                      within)
    finally:
        await context.shutdown()


async def test_home_scenario_serves_both_sides(ocf_network: OcfNetwork,
                                               dbus_daemon: DBusDaemon, tmp_path: Path) -> None:
    host = ocf_network.add_host("home")
    sim = SimProcess(["--scenario", str(HOME), "--bus", dbus_daemon.address,
                      "--interface", "eth0"], popen=host.popen, log_path=tmp_path / "sim.log")
    ready = await asyncio.to_thread(sim.start, 5)
    try:
        names = {e["device"] for e in ready}
        assert names == {"Desk Lamp", "Hall Sensor", "Front Door", "Ceiling Light",
                         "Living Room Thermostat"}
        # The process's shared /oic/res responder lists the three OCF devices on 5683.
        response = await _get(f"coap://{host.ipv4}:5683/oic/res")
        links = cbor2.loads(response.payload)
        device_links = [link for link in links if link["href"] == "/oic/d"]
        assert len({link["anchor"] for link in device_links}) == 3
        lamp = next(e for e in ready if e["device"] == "Desk Lamp")
        state = await _get(f"coap://{host.ipv4}:{lamp['port']}{lamp['hrefs']['switch']}")
        assert cbor2.loads(state.payload) == {"value": True}  # the scenario's initial state
    finally:
        assert await asyncio.to_thread(sim.stop) == 0


async def test_fault_flags_and_control(ocf_network: OcfNetwork, tmp_path: Path) -> None:
    host = ocf_network.add_host("faulty")
    sim = SimProcess(["ocf", "--model", "switch", "--name", "Plug", "--interface", "eth0",
                      "--error", "1", "--error-code", "404"], popen=host.popen,
                     log_path=tmp_path / "sim.log")
    (ready,) = await asyncio.to_thread(sim.start)
    uri = f"coap://{host.ipv4}:{ready['port']}{ready['hrefs']['switch']}"
    try:
        assert str((await _get(uri)).code) == "4.04 Not Found"
        sim.send({"cmd": "faults", "device": "Plug", "malformed": 1.0})
        event = await asyncio.to_thread(sim.wait_event, lambda e: e["event"] == "faults")
        assert (event["malformed"], event["error"]) == (1.0, 0.0)
        response = await _get(uri)
        assert response.code.is_successful() and response.opt.content_format == 10000
        assert response.payload.startswith(b"\x1c")
        sim.send({"cmd": "faults", "device": "Plug", "drop": 7})
        error = await asyncio.to_thread(sim.wait_event, lambda e: e["event"] == "error")
        assert "between 0 and 1" in error["message"]
    finally:
        sim.stop()
