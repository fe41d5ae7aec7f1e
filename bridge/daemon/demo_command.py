"""``ocfaj demo``: the gateway with simulated devices on both sides, on one machine.

Layer: ``bridge.daemon``. Without any configuration the demo starts a private dbus-daemon,
the simulated devices of a scenario (the shipped ``home`` one by default: OCF devices served
on loopback, AllJoyn devices on the private bus), and the gateway between them, then shows a
live table of what was bridged and what changes until Ctrl-C. Multicast is never sent on the
machine's real interfaces: the gateway reaches the simulated OCF devices by unicast on
loopback, at fixed ports (like devices configured by address), and says so.

The demo never reads a configuration file (neither ``OCFAJ_CONFIG`` nor the service's
``/etc/ocfaj/config.toml``): it runs on its own settings (gateway name ``demo``, MQTT client id
``ocfaj-demo``, topics under ``ocfaj-demo/``, the web page on loopback), changed only by
``OCFAJ_*`` variables and ``--set`` (``OCFAJ_MQTT_HOST`` turns the MQTT uplink on, for
example). Ctrl-C stops the parts in order: the demo's own tasks, the gateway, the simulators,
the private bus last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
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
from bridge.daemon.config import Config, parse_config
from bridge.daemon.config_checks import check_event_loop
from bridge.daemon.demo_screen import EventFeed, device_table, screen, value_text
from bridge.daemon.event_loop import describe as describe_loop
from bridge.daemon.event_loop import run as run_on_gateway_loop
from bridge.daemon.logging_setup import setup_logging

if TYPE_CHECKING:
    from bridge.daemon.cli import Subparsers
    from bridge.daemon.gateway import Gateway
    from bridge.model.types import Catalogue
    from bridge.sim.control import SimServer
    from bridge.sim.scenario import Scenario
    from bridge.sim.testing.dbus import DBusDaemon

log = logging.getLogger("ocfaj.demo")

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "sim" / "scenarios"
#: The demo's own settings, beneath ``OCFAJ_*`` variables and ``--set``: a gateway of its own
#: name, so that on a broker it never takes the client id or the topics of a real gateway.
DEMO_SETTINGS: Mapping[str, Mapping[str, object]] = {
    "gateway": {"name": "demo"},
    "mqtt": {"base_topic": "ocfaj-demo", "client_id": "ocfaj-demo"},
    "web": {"enabled": True},
}
_LOG_LEVELS = ("debug", "info", "warning", "error")
#: Discovery round and departure detection of the demo: a device that left shows as gone
#: within about 2 rounds, and one that returned shows up again at the next round.
_DISCOVERY_INTERVAL = 3.0
_MISSED_ROUNDS = 2


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the gateway with simulated devices (no configuration needed)",
        description="Start a private D-Bus, simulated OCF and AllJoyn devices and the gateway, "
                    "and show what is bridged until Ctrl-C. No configuration file is read: "
                    "OCFAJ_* variables and --set change the demo's own settings.")
    parser.add_argument("--scenario", type=Path, default=SCENARIO_DIR / "home.toml",
                        help="scenario file with the simulated devices (default: home)")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--plain", action="store_true",
                        help="print events line by line instead of redrawing a table")
    parser.add_argument("--bus", metavar="ADDRESS",
                        help="use this D-Bus (session or an address) instead of starting a "
                             "private dbus-daemon")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="change one of the demo's settings (repeatable; wins over "
                             "OCFAJ_* variables), e.g. --set mqtt.host=broker.lan")
    parser.add_argument("--log-level", choices=_LOG_LEVELS, type=str.lower,
                        default=argparse.SUPPRESS,
                        help="show the gateway's log lines from this level on "
                             "(default: warnings only)")
    parser.set_defaults(handler=_demo)


def demo_settings(env: Mapping[str, str], overrides: Sequence[str] = ()) -> Config:
    """The demo's configuration: :data:`DEMO_SETTINGS`, then ``OCFAJ_*`` of ``env``, then
    ``overrides``; never a file (``OCFAJ_CONFIG`` is not a setting and is ignored)."""
    return parse_config(DEMO_SETTINGS, env=env, overrides=overrides)


def settings_from_args(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    """:func:`demo_settings` with the demo's ``--set`` and ``--log-level``."""
    level = getattr(args, "log_level", None)
    return demo_settings(env, [*args.overrides,
                               *([f"gateway.log_level={level}"] if level else [])])


def _demo(args: argparse.Namespace) -> int:
    level = getattr(args, "log_level", None)
    config = settings_from_args(args, os.environ)
    # The table and the event lines are the demo's output; operator logs only for problems
    # unless --log-level asks for more.
    setup_logging(level or "warning", timestamps=config.gateway.log_timestamps)
    check_event_loop(config)
    # The gateway's own event loop, as ``ocfaj run`` has it ([gateway] event_loop).
    return run_on_gateway_loop(run_demo(config, args.scenario, args.duration,
                                        plain=args.plain or not sys.stdout.isatty(),
                                        bus=args.bus), config.gateway.event_loop)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_config(config: Config, bus: str, state_dir: Path, ocf_ports: list[int]) -> Config:
    """The demo's configuration, pointed at its bus and its loopback devices."""
    return dataclasses.replace(
        config,
        gateway=dataclasses.replace(config.gateway, state_dir=state_dir, control_bus=bus),
        alljoyn=dataclasses.replace(config.alljoyn, bus=bus),
        ocf=dataclasses.replace(
            config.ocf, interfaces=("lo",), ipv6=False, virtual_bind="127.0.0.1",
            server_port=_free_port(socket.SOCK_DGRAM),
            unicast_peers=tuple(f"coap://127.0.0.1:{port}" for port in ocf_ports),
            discovery_interval=min(config.ocf.discovery_interval, _DISCOVERY_INTERVAL),
            missed_rounds=min(config.ocf.missed_rounds, _MISSED_ROUNDS)),
        bridge=dataclasses.replace(config.bridge, virtual_grace_period=0.5),
    )


def build_simulators(scenario_path: Path, bus: str, catalogue: Catalogue,
                     ) -> tuple[list[SimServer], Scenario, list[int]]:
    """The scenario's simulated devices, OCF ones on loopback, AllJoyn ones on ``bus``.

    Each OCF device gets a fixed port, kept when it leaves and comes back, so the gateway's
    unicast peers (the returned ports) find it again.
    """
    from bridge.alljoyn.bus import parse_bus
    from bridge.sim.home import scenario_servers
    from bridge.sim.ocf import SimListing
    from bridge.sim.scenario import load_scenario

    scenario = load_scenario(scenario_path, catalogue)
    ports = {spec.name: _free_port(socket.SOCK_DGRAM) for spec in scenario.on_side("ocf")}
    listing = SimListing(("lo",), multicast=False)
    servers = scenario_servers(scenario, catalogue, listing=listing, bus=parse_bus(bus),
                               bind_host="127.0.0.1", ocf_ports=ports)
    return servers, scenario, list(ports.values())


class _Output:
    """Where the demo writes: a redrawn screen on a terminal, plain lines otherwise."""

    def __init__(self, plain: bool, first: Mapping[str, Sequence[str]]) -> None:
        self.plain = plain
        #: per device type, the capabilities whose values the table shows first.
        self.first = first
        self.notes: list[str] = []
        self.feed = EventFeed(self.line if plain else None)
        encoding = (getattr(sys.stdout, "encoding", None) or "ascii").lower()
        self.ellipsis = "…" if encoding.startswith("utf") else "~"

    def line(self, text: str) -> None:
        print(text, flush=True)

    def note(self, text: str) -> None:
        """A start-up fact: printed at once, and kept on top of the redrawn screen."""
        self.notes.append(text)
        self.line(f"demo: {text}")

    def table(self, rows: list[dict[str, Any]]) -> None:
        width = shutil.get_terminal_size().columns - 1 if sys.stdout.isatty() else None
        table = device_table(rows, width, ellipsis=self.ellipsis, first=self.first)
        print("\n".join(table), flush=True)

    def redraw(self, gateway: Gateway) -> None:
        size = shutil.get_terminal_size()
        # One column short of the edge: a full line would leave the cursor waiting to wrap.
        width = size.columns - 1
        lines = screen(f"ocfaj demo - Ctrl-C stops - {gateway.status_line()}", self.notes,
                       device_table(gateway.describe_devices(), width, ellipsis=self.ellipsis,
                                    first=self.first),
                       self.feed.lines, width, size.lines, ellipsis=self.ellipsis)
        sys.stdout.write("\x1b[H" + "\n".join(line + "\x1b[K" for line in lines) + "\x1b[J")
        sys.stdout.flush()


async def run_demo(config: Config, scenario_path: Path, duration: float = 0.0, *,
                   plain: bool = True, bus: str | None = None) -> int:
    """Run the demo; ``bus`` (``session`` or an address) replaces the private dbus-daemon."""
    import tempfile  # here: ocfaj run, which builds this parser too, needs none of it

    from bridge.daemon.gateway import Gateway
    from bridge.model import load_catalogue
    from bridge.sim.behaviour import start_behaviours
    from bridge.sim.testing.dbus import DBusDaemon

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    log.info("event loop: %s", describe_loop(loop))
    from bridge.ocf.lean_compiled import describe as describe_compiled
    log.info("compiled GET path: %s",
             describe_compiled(config.ocf.lean_get and config.ocf.lean_compiled))
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    catalogue = load_catalogue(config.gateway.models_dir)
    out = _Output(plain, {d.ocf_device_type: d.required for d in catalogue.device_types})
    workdir = Path(tempfile.mkdtemp(prefix="ocfaj-demo-"))
    private = DBusDaemon(workdir) if bus is None else None
    gateway: Gateway | None = None
    servers: list[SimServer] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        if private is not None:
            private.start()
            bus = private.address
            out.note(f"private D-Bus at {bus}")
        else:
            out.note(f"using the D-Bus {bus}")
        assert bus is not None
        servers, scenario, ocf_ports = build_simulators(scenario_path, bus, catalogue)
        for server in servers:
            await server.start()
        out.note(f"scenario {scenario.name!r}: {len(ocf_ports)} OCF devices on 127.0.0.1, "
                 f"{len(servers) - len(ocf_ports)} AllJoyn devices")
        out.note("multicast is not used: the gateway reaches the OCF devices by unicast")
        gateway = Gateway(demo_config(config, bus, workdir / "state", ocf_ports))
        unsubscribe = gateway.bus.subscribe("demo", lambda event: _describe(event, out.feed))
        await gateway.start()
        web = gateway.describe_gateway()["parts"].get("web", {})
        if web.get("url"):
            out.note(f"web page at {web['url']}")
        elif config.web.enabled:
            out.note("the web page did not start: run with --log-level warning to see why")
        if config.mqtt.enabled:
            out.note(f"mirroring to MQTT at {config.mqtt.host}:{config.mqtt.port} under "
                     f"{config.mqtt.base_topic}/ as client {config.mqtt.client_id}")
        by_name = {server.device.name: server for server in servers}
        tasks = start_behaviours(scenario.behaviours, by_name,
                                 report=lambda event: _simulator_event(event, out.feed))
        tasks.append(asyncio.create_task(_commands(gateway, out.feed)))
        tasks.append(asyncio.create_task(_display(gateway, out)))
        if duration > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
        else:
            await stop.wait()
        # Devices the demo itself stops are not news: no event line after this one.
        out.feed.close()
        unsubscribe()
        if plain:
            # The periodic table comes every 10 s: a short run still ends with one (on a
            # line of its own, after the terminal's "^C").
            out.line("")
            out.table(gateway.describe_devices())
        out.line("\ndemo: stopping")
    except (OSError, RuntimeError, TimeoutError) as err:
        print(f"demo: {err}", file=sys.stderr)
        return 1
    finally:
        out.feed.close()
        await _stop_all(tasks, gateway, servers, private)
        shutil.rmtree(workdir, ignore_errors=True)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


async def _stop_all(tasks: list[asyncio.Task[None]], gateway: Gateway | None,
                    servers: list[SimServer], private: DBusDaemon | None) -> None:
    """Stop in order: the demo's tasks, the gateway, the simulators, then the bus they use."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if gateway is not None:
        await gateway.shutdown()
    for server in servers:
        try:
            await server.stop()
        except Exception as err:
            log.warning("simulated device %s did not stop cleanly: %s", server.device.name, err)
    if private is not None:
        private.stop()


def _describe(event: Event, feed: EventFeed) -> None:
    """One event line for what the gateway saw happen."""
    if isinstance(event, ThingAdded):
        thing = event.thing
        feed.add(f"found {thing.origin} {'virtual ' if thing.virtual else ''}device "
                 f"{thing.info.name}")
    elif isinstance(event, StateChanged):
        values = " ".join(f"{k}={value_text(v)}" for k, v in event.values.items())
        feed.add(f"{event.thing.info.name}: {event.capability} {values}")
    elif isinstance(event, AvailabilityChanged):
        feed.add(f"{event.thing.info.name} {'returned' if event.available else 'left'}")
    elif isinstance(event, CommandRejected):
        feed.add(f"refused {event.source} command to {event.thing_id}: {event.message}")


def _simulator_event(event: Mapping[str, Any], feed: EventFeed) -> None:
    """A scripted departure or return, as the simulator itself reports it."""
    if event.get("event") == "left":
        feed.add(f"simulator: {event.get('device')} went away without a goodbye")
    elif event.get("event") == "ready":
        feed.add(f"simulator: {event.get('device')} is back (port {event.get('port', '?')})")


async def _commands(gateway: Gateway, feed: EventFeed) -> None:
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
                feed.add(f"demo client switched {thing.info.name} {'on' if on else 'off'} "
                         "through the gateway")
            except Exception as err:
                feed.add(f"demo client could not switch {thing.info.name}: {err}")


async def _display(gateway: Gateway, out: _Output) -> None:
    if out.plain:
        while True:
            await asyncio.sleep(10)
            out.table(gateway.describe_devices())
    while True:
        out.redraw(gateway)
        await asyncio.sleep(1)
