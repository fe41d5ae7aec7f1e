"""``ocfaj simulate``: run simulated OCF or AllJoyn devices built from the shared models.

Layer: ``bridge.daemon``. ``ocfaj simulate ocf --model light --name Lamp`` and
``ocfaj simulate alljoyn --model light --name Lamp`` serve real protocol peers until stopped;
``ocfaj simulate --scenario home.toml`` runs a whole scenario (devices on both sides plus
scripted behaviour). All of them obey JSON-lines commands on stdin and report events on
stdout (``bridge.sim.control``). A side's simulator is imported only when that side is chosen
(:class:`_SideParser`): every ``ocfaj`` command builds this parser, and ``ocfaj run`` would
otherwise carry the simulators in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from bridge.daemon.cli import Subparsers

#: side -> (module with its command line, help text).
SIDES = {
    "ocf": ("bridge.sim.ocf_cli", "simulated OCF devices (CoAP servers)"),
    "alljoyn": ("bridge.sim.alljoyn_cli", "simulated AllJoyn devices (D-Bus peers)"),
    "obt": ("bridge.sim.obt_cli", "a simulated OCF onboarding tool: discover, own, "
                                  "provision clients, reset, status"),
}


class SideModule(Protocol):
    """What a module named in :data:`SIDES` provides."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the side's options to its parser."""

    async def run(self, args: argparse.Namespace) -> int | None:
        """Serve until stopped; the exit status (None: 0)."""


class _SideParser(argparse.ArgumentParser):
    """The parser of one side (``ocfaj simulate ocf``): its options come from the side's
    module, imported the first time this parser parses (also for ``--help``)."""

    side_module = ""

    def parse_known_args(self, args: Iterable[str] | None = None,
                         namespace: Any = None) -> tuple[Any, list[str]]:
        if self.side_module:
            module = cast(SideModule, importlib.import_module(self.side_module))
            self.side_module = ""
            module.add_arguments(self)
            self.set_defaults(handler=lambda parsed: _run_async(module.run(parsed)))
        return super().parse_known_args(args, namespace)


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate", help="run simulated OCF or AllJoyn devices",
        # A side, or --scenario: argparse would show SIDE as always required.
        usage="%(prog)s [-h] --scenario NAME|FILE [--bus BUS] [--interface IFACE]\n"
              "       %(prog)s {ocf,alljoyn,obt} [options]",
        description="Run simulated devices: every device of a scenario file, or devices of "
                    "one side (ocfaj simulate ocf --help, ocfaj simulate alljoyn --help). "
                    "Control them with JSON lines on stdin "
                    "(see docs/testing-with-simulated-devices.md).")
    parser.add_argument("--scenario", type=Path, metavar="FILE",
                        help="run every device of a scenario file (no SIDE then)")
    parser.add_argument("--bus", default="session",
                        help="D-Bus bus for AllJoyn devices of a scenario (default: session)")
    parser.add_argument("--interface", action="append", default=[], metavar="IFACE",
                        help="interface for OCF multicast discovery of a scenario "
                             "(repeatable; default: all)")
    sides = parser.add_subparsers(title="sides", metavar="SIDE", parser_class=_SideParser)
    for side, (module, text) in SIDES.items():
        sides.add_parser(side, help=text).side_module = module
    parser.set_defaults(handler=lambda args: _scenario(args, parser))


def _scenario(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.scenario is None:
        parser.print_help()
        return 2
    return _run_async(run_scenario(args.scenario, args.bus, tuple(args.interface)))


async def run_scenario(path: Path, bus: str, interfaces: tuple[str, ...]) -> int:
    """Serve every device of the scenario and run its behaviours until stopped."""
    from bridge.alljoyn.bus import parse_bus
    from bridge.model import load_catalogue
    from bridge.sim.behaviour import start_behaviours
    from bridge.sim.control import run_control
    from bridge.sim.home import scenario_servers
    from bridge.sim.ocf import SimListing
    from bridge.sim.scenario import load_scenario

    catalogue = load_catalogue()
    scenario = load_scenario(path, catalogue)
    servers = scenario_servers(scenario, catalogue, listing=SimListing(interfaces),
                               bus=parse_bus(bus))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks: list[asyncio.Task[None]] = []

    def behave() -> None:
        tasks.extend(start_behaviours(scenario.behaviours,
                                      {s.device.name: s for s in servers}))

    try:
        await run_control(servers, stop, on_ready=behave)
    finally:
        for task in tasks:
            task.cancel()
    return 0


def _run_async(coro: Coroutine[Any, Any, int | None]) -> int:
    result = asyncio.run(coro)
    return int(result) if isinstance(result, int) else 0
