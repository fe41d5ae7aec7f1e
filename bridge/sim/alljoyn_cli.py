"""``ocfaj simulate alljoyn``: run simulated AllJoyn devices under JSON-lines control.

Layer: ``bridge.sim`` command line. ``add_arguments`` fills the subcommand's parser, ``run``
serves the devices until ``{"cmd": "stop"}``, SIGTERM or SIGINT. Also runnable directly:
``python -m bridge.sim.alljoyn_cli --bus unix:path=... --model light --name Lamp``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bridge.alljoyn.bus import parse_bus
from bridge.model import load_catalogue
from bridge.sim.alljoyn import SIM_MODELS, AllJoynSimServer, sim_device
from bridge.sim.alljoyn_peer import add_peer_arguments, behaviour_from_args
from bridge.sim.control import SimServer, run_control
from bridge.sim.fault_args import add_fault_arguments, faults_from_args
from bridge.sim.model_names import device_model_names, model_id


def add_arguments(parser: argparse.ArgumentParser) -> None:
    presets = "; ".join(f"{name} = {'+'.join(caps)}" for name, caps in SIM_MODELS.items())
    parser.add_argument("--model", default="light", metavar="MODEL",
                        help=f"device type model: {device_model_names(load_catalogue())} "
                             f"(default: light; here {presets}), or a comma-separated list "
                             "of capabilities (switch,colour)")
    parser.add_argument("--name", default="", help="device name (default: the model's name); "
                        "with --count N the names get a number")
    parser.add_argument("--count", type=int, default=1, help="how many devices (default: 1)")
    parser.add_argument("--bus", type=parse_bus, default=parse_bus("session"),
                        help="system, session (default, DBUS_SESSION_BUS_ADDRESS) or a D-Bus "
                        "address such as unix:path=/tmp/bus")
    add_fault_arguments(parser)
    add_peer_arguments(parser)


async def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        print("--count must be at least 1", file=sys.stderr)
        return 2
    catalogue = load_catalogue()
    base = args.name or args.model.capitalize()
    names = [base] if args.count == 1 else [f"{base} {i}" for i in range(1, args.count + 1)]
    servers: list[SimServer] = []
    try:
        behaviour = behaviour_from_args(args)
        for name in names:
            device = sim_device(name, catalogue, model_id(args.model))
            device.faults = faults_from_args(args)
            servers.append(AllJoynSimServer(device, args.bus, behaviour=behaviour))
    except ValueError as err:
        print(f"ocfaj simulate alljoyn: {err}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await run_control(servers, stop)
    except (OSError, TimeoutError) as err:
        print(f"cannot serve on {args.bus}: {err}", file=sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="ocfaj simulate alljoyn",
                                     description="simulated AllJoyn devices on a D-Bus bus")
    add_arguments(parser)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
