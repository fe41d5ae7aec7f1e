"""``ocfaj demo``: the gateway with simulated devices on both sides, on one machine.

Layer: ``bridge.daemon``. Without any configuration the demo starts a private dbus-daemon,
the simulated devices of a scenario (the shipped ``home`` one by default: OCF devices served
on loopback, AllJoyn devices on the private bus), and the gateway between them, then shows a
live table of what was bridged and what changes until Ctrl-C. Multicast is never sent on the
machine's real interfaces: the gateway reaches the simulated OCF devices by unicast on
loopback, and says so. The configuration file and ``OCFAJ_*`` overrides apply as for
``ocfaj run`` (``OCFAJ_MQTT_HOST`` turns the MQTT uplink on, for example).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.core.events import (
    AvailabilityChanged,
    CommandRejected,
    Event,
    StateChanged,
    ThingAdded,
)
from bridge.core.registry import SetProperties
from bridge.core.thing import Side
from bridge.daemon.cli import add_config_options, config_from_args
from bridge.daemon.config import Config
from bridge.daemon.devices_command import render_table
from bridge.daemon.logging_setup import setup_logging

if TYPE_CHECKING:
    from bridge.daemon.cli import Subparsers
    from bridge.daemon.gateway import Gateway
    from bridge.sim.control import SimServer

log = logging.getLogger("ocfaj.demo")

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "sim" / "scenarios"


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the gateway with simulated devices (no configuration needed)",
        description="Start a private D-Bus, simulated OCF and AllJoyn devices and the gateway, "
                    "and show what is bridged until Ctrl-C.")
    add_config_options(parser)
    parser.add_argument("--scenario", type=Path, default=SCENARIO_DIR / "home.toml",
                        help="scenario file with the simulated devices (default: home)")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--plain", action="store_true",
                        help="print events line by line instead of redrawing a table")
    parser.add_argument("--bus", metavar="ADDRESS",
                        help="use this D-Bus (session or an address) instead of starting a "
                             "private dbus-daemon")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.log_level is None:
        # The table and the event lines are the demo's output; operator logs only for problems
        # (--log-level info shows them all).
        setup_logging("warning", timestamps=config.gateway.log_timestamps)
    return asyncio.run(run_demo(config, args.scenario, args.duration,
                                plain=args.plain or not sys.stdout.isatty(), bus=args.bus))


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_config(config: Config, bus: str, state_dir: Path, ocf_ports: list[int]) -> Config:
    """The user's configuration, pointed at the demo's private bus and loopback devices."""
    return dataclasses.replace(
        config,
        gateway=dataclasses.replace(config.gateway, state_dir=state_dir, control_bus=bus),
        alljoyn=dataclasses.replace(config.alljoyn, bus=bus),
        ocf=dataclasses.replace(
            config.ocf, interfaces=("lo",), ipv6=False, virtual_bind="127.0.0.1",
            server_port=_free_port(socket.SOCK_DGRAM),
            unicast_peers=tuple(f"coap://127.0.0.1:{port}" for port in ocf_ports),
            discovery_interval=min(config.ocf.discovery_interval, 5.0)),
        bridge=dataclasses.replace(config.bridge, virtual_grace_period=0.5),
    )


async def build_simulators(scenario_path: Path, bus: str) -> tuple[list[SimServer], Any]:
    """The scenario's simulated devices, OCF ones on loopback, AllJoyn ones on ``bus``."""
    from bridge.alljoyn.bus import parse_bus
    from bridge.model import load_catalogue
    from bridge.sim.home import scenario_servers
    from bridge.sim.ocf import SimListing
    from bridge.sim.scenario import load_scenario

    catalogue = load_catalogue()
    scenario = load_scenario(scenario_path, catalogue)
    listing = SimListing(("lo",), _free_port(socket.SOCK_DGRAM))
    servers = scenario_servers(scenario, catalogue, listing=listing, bus=parse_bus(bus),
                               bind_host="127.0.0.1")
    return servers, scenario


async def run_demo(config: Config, scenario_path: Path, duration: float = 0.0, *,
                   plain: bool = True, bus: str | None = None) -> int:
    """Run the demo; ``bus`` (``session`` or an address) replaces the private dbus-daemon."""
    from bridge.daemon.gateway import Gateway
    from bridge.sim.behaviour import start_behaviours
    from bridge.sim.testing.dbus import DBusDaemon

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    workdir = Path(tempfile.mkdtemp(prefix="ocfaj-demo-"))
    private = DBusDaemon(workdir) if bus is None else None
    gateway: Gateway | None = None
    servers: list[SimServer] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        if private is not None:
            private.start()
            bus = private.address
            print(f"demo: private D-Bus at {bus}")
        else:
            print(f"demo: using the D-Bus {bus}")
        assert bus is not None
        servers, scenario = await build_simulators(scenario_path, bus)
        ocf_ports = []
        for server in servers:
            facts = await server.start()
            if "port" in facts:
                ocf_ports.append(int(facts["port"]))
        print(f"demo: scenario {scenario.name!r}: {len(servers)} simulated devices "
              f"({len(ocf_ports)} OCF on 127.0.0.1, {len(servers) - len(ocf_ports)} AllJoyn)")
        print("demo: multicast is not used on this machine's interfaces; the gateway reaches "
              "the simulated OCF devices by unicast on loopback")
        gateway = Gateway(demo_config(config, bus, workdir / "state", ocf_ports))
        events: deque[str] = deque(maxlen=10)
        gateway.bus.subscribe("demo", lambda event: _remember(event, events, plain))
        await gateway.start()
        if config.mqtt.enabled:
            print(f"demo: mirroring to MQTT at {config.mqtt.host}:{config.mqtt.port} "
                  f"under {config.mqtt.base_topic}/")
        by_name = {server.device.name: server for server in servers}
        tasks = start_behaviours(scenario.behaviours, by_name)
        tasks.append(asyncio.create_task(_commands(gateway, events)))
        tasks.append(asyncio.create_task(_display(gateway, events, plain)))
        if duration > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
        else:
            await stop.wait()
        if plain:
            # The periodic table comes every 10 s: a short run still ends with one.
            print(render_table(gateway.describe_devices(), compact=True), flush=True)
        print("\ndemo: stopping")
    except (OSError, RuntimeError, TimeoutError) as err:
        print(f"demo: {err}", file=sys.stderr)
        return 1
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if gateway is not None:
            await gateway.shutdown()
        for server in servers:
            with contextlib.suppress(Exception):
                await server.stop()
        if private is not None:
            private.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


def _remember(event: Event, events: deque[str], plain: bool) -> None:
    stamp = time.strftime("%H:%M:%S")
    line = ""
    if isinstance(event, ThingAdded):
        thing = event.thing
        line = f"found {thing.origin} {'virtual ' if thing.virtual else ''}device {thing.info.name}"
    elif isinstance(event, StateChanged):
        values = ", ".join(f"{k}={v}" for k, v in event.values.items())
        line = f"{event.thing.info.name}: {event.capability} {values}"
    elif isinstance(event, AvailabilityChanged):
        line = f"{event.thing.info.name} {'returned' if event.available else 'left'}"
    elif isinstance(event, CommandRejected):
        line = f"refused {event.source} command to {event.thing_id}: {event.message}"
    if line:
        events.append(f"{stamp} {line}")
        if plain:
            print(f"{stamp} {line}", flush=True)


async def _commands(gateway: Gateway, events: deque[str]) -> None:
    """Every few seconds, switch a light through the gateway, like a client would.

    The lights take turns, so commands travel to devices of both sides.
    """
    turn = 0
    while True:
        await asyncio.sleep(8)
        lights = sorted((t for t in gateway.registry if not t.virtual and t.available
                         and "switch" in t.capabilities), key=lambda t: t.id)
        if lights:
            thing = lights[turn % len(lights)]
            turn += 1
            on = not thing.capabilities["switch"].state.get("on", False)
            try:
                await gateway.registry.command(thing.id, SetProperties("switch", {"on": on}),
                                               Side.CONTROL)
                events.append(f"{time.strftime('%H:%M:%S')} demo client switched "
                              f"{thing.info.name} {'on' if on else 'off'} through the gateway")
            except Exception as err:
                events.append(f"demo client could not switch {thing.info.name}: {err}")


async def _display(gateway: Gateway, events: deque[str], plain: bool) -> None:
    if plain:
        while True:
            await asyncio.sleep(10)
            print(render_table(gateway.describe_devices(), compact=True), flush=True)
    while True:
        table = render_table(gateway.describe_devices(), compact=True)
        sys.stdout.write("\x1b[H\x1b[2J" + f"ocfaj demo - {gateway.status_line()} - Ctrl-C "
                         "stops\n\n" + table + "\n\nrecent events:\n" + "\n".join(events)
                         + "\n")
        sys.stdout.flush()
        await asyncio.sleep(1)
