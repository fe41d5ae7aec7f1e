"""``ocfaj simulate``: run simulated OCF or AllJoyn devices built from the shared models.

Layer: ``bridge.daemon``. ``ocfaj simulate ocf --model light --name Lamp`` and
``ocfaj simulate alljoyn --model light --name Lamp`` serve real protocol peers until stopped;
``ocfaj simulate --scenario home.toml`` runs a whole scenario (devices on both sides plus
scripted behaviour). All of them obey JSON-lines commands on stdin and report events on
stdout (``bridge.sim.control``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bridge.sim.alljoyn_cli as alljoyn_cli
import bridge.sim.obt_cli as obt_cli
import bridge.sim.ocf_cli as ocf_cli

if TYPE_CHECKING:
    from bridge.daemon.cli import Subparsers


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
    sides = parser.add_subparsers(title="sides", metavar="SIDE")
    ocf = sides.add_parser("ocf", help="simulated OCF devices (CoAP servers)")
    ocf_cli.add_arguments(ocf)
    ocf.set_defaults(handler=lambda args: _run_async(ocf_cli.run(args)))
    alljoyn = sides.add_parser("alljoyn", help="simulated AllJoyn devices (D-Bus peers)")
    alljoyn_cli.add_arguments(alljoyn)
    alljoyn.set_defaults(handler=lambda args: _run_async(alljoyn_cli.run(args)))
    obt = sides.add_parser("obt", help="a simulated OCF onboarding tool: discover, own, "
                                       "provision clients, reset, status")
    obt_cli.add_arguments(obt)
    obt.set_defaults(handler=lambda args: _run_async(obt_cli.run(args)))
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
