"""``ocfaj simulate``: run simulated OCF or AllJoyn devices built from the shared models.

Layer: ``bridge.daemon``. ``ocfaj simulate ocf --model light --name Lamp`` and
``ocfaj simulate alljoyn --model light --name Lamp`` serve real protocol peers until stopped;
they obey JSON-lines commands on stdin and report events on stdout (``bridge.sim.control``).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.daemon.cli import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    from bridge.sim import alljoyn_cli, ocf_cli

    parser = subparsers.add_parser(
        "simulate", help="run simulated OCF or AllJoyn devices",
        description="Run simulated devices. Control them with JSON lines on stdin "
                    "(see docs/testing-with-simulated-devices.md).")
    sides = parser.add_subparsers(title="sides", metavar="SIDE")
    ocf = sides.add_parser("ocf", help="simulated OCF devices (CoAP servers)")
    ocf_cli.add_arguments(ocf)
    ocf.set_defaults(handler=lambda args: _run_async(ocf_cli.run(args)))
    alljoyn = sides.add_parser("alljoyn", help="simulated AllJoyn devices (D-Bus peers)")
    alljoyn_cli.add_arguments(alljoyn)
    alljoyn.set_defaults(handler=lambda args: _run_async(alljoyn_cli.run(args)))
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _run_async(coro: object) -> int:
    result = asyncio.run(coro)  # type: ignore[arg-type]
    return int(result) if isinstance(result, int) else 0
