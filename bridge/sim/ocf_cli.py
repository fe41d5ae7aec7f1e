"""``ocfaj simulate ocf``: run simulated OCF devices, controlled through stdin/stdout.

Layer: ``bridge.sim`` (command line front end of ``bridge.sim.ocf``). The lead wires
:func:`add_arguments` and :func:`run` into the ``ocfaj`` command; ``python -m
bridge.sim.ocf_cli`` runs it stand-alone (the integration tests start it that way inside
network namespaces). The control protocol is ``bridge.sim.control``'s JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from bridge.model import load_catalogue
from bridge.ocf import wire
from bridge.sim.control import SimServer, run_control
from bridge.sim.declare_args import add_declare_arguments, apply_declarations
from bridge.sim.device import SimDevice
from bridge.sim.fault_args import add_fault_arguments, faults_from_args
from bridge.sim.model_names import device_model_names, model_id
from bridge.sim.ocf import OcfSimServer, SimListing
from bridge.sim.ocf_stack import add_quirk_arguments, quirks_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="MODEL",
                        help=f"device type model: {device_model_names(load_catalogue())}")
    parser.add_argument("--name", required=True, help="device name (/oic/d n)")
    parser.add_argument("--count", type=int, default=1,
                        help="number of devices; names get ' 2', ' 3'... appended")
    parser.add_argument("--interface", action="append", default=[],
                        help="interface for multicast discovery (repeatable; default: all)")
    parser.add_argument("--port", type=int, default=wire.COAP_PORT,
                        help="UDP port of the multicast /oic/res responder (default 5683)")
    parser.add_argument("--unicast-only", action="store_true",
                        help="no multicast responder: devices answer on their own ports only "
                             "(tests on loopback, where there is no link to multicast on)")
    parser.add_argument("--bind", default="::",
                        help="address the devices bind to (default :: = every address)")
    parser.add_argument("--device-port", type=int, default=0,
                        help="UDP port of the first device, the next ones follow; a device that "
                             "leaves comes back on the same port (default: ephemeral ports)")
    parser.add_argument("--secure", action="store_true",
                        help="a secured device: unowned at start, shows a PIN, serves its "
                             "resources over coaps to its owner (needs the 'secure' extra)")
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="with --secure: keep each device's security (owner, "
                             "credentials, ACEs) in DIR/ocf-device-N.json (mode 0600), loaded "
                             "at start, so a restarted owned device stays owned")
    parser.add_argument("--mfg-cert", type=Path, metavar="FILE",
                        help="with --secure: the device's manufacturer certificate (PEM); the "
                             "device then also offers the certificate ownership transfer")
    parser.add_argument("--mfg-key", type=Path, metavar="FILE",
                        help="with --mfg-cert: its private key (PEM, EC P-256, unencrypted)")
    parser.add_argument("--mfg-chain", type=Path, metavar="FILE",
                        help="with --mfg-cert: the intermediate CA certificates (PEM) to send "
                             "with it")
    add_fault_arguments(parser)
    add_declare_arguments(parser)
    add_quirk_arguments(parser)


def device_names(name: str, count: int) -> list[str]:
    return [name if i == 1 else f"{name} {i}" for i in range(1, count + 1)]


async def run(args: argparse.Namespace) -> int:
    catalogue = load_catalogue()
    model = model_id(args.model)
    if args.count < 1:
        print("--count must be at least 1", file=sys.stderr)
        return 2
    if args.state_dir is not None and not args.secure:
        print("ocfaj simulate ocf: --state-dir keeps a secured device's state; it needs "
              "--secure", file=sys.stderr)
        return 2
    if (args.mfg_cert is None) != (args.mfg_key is None) or (
            args.mfg_chain is not None and args.mfg_cert is None):
        print("ocfaj simulate ocf: --mfg-cert and --mfg-key go together (and --mfg-chain "
              "with them)", file=sys.stderr)
        return 2
    if args.mfg_cert is not None and not args.secure:
        print("ocfaj simulate ocf: --mfg-cert needs --secure", file=sys.stderr)
        return 2
    certificate: Any = None
    if args.mfg_cert is not None:
        from bridge.ocf.dtls_lib import load
        from bridge.ocf.mfg_trust import CertificateFileError, DeviceCertificate

        load()  # a missing DTLS library stops here, with what to install
        try:
            certificate = DeviceCertificate.load(args.mfg_cert, args.mfg_key, args.mfg_chain)
        except CertificateFileError as err:
            print(f"ocfaj simulate ocf: {err}", file=sys.stderr)
            return 2
    try:
        devices = [SimDevice.of_type(name, catalogue, model)
                   for name in device_names(args.name, args.count)]
        for device in devices:
            device.faults = faults_from_args(args)
            apply_declarations(device, args.limit, args.one_resource)
        quirks = quirks_from_args(args)
        listing = SimListing(tuple(args.interface), args.port,
                             multicast=not args.unicast_only, quirks=quirks)
        servers = _servers(args, devices, listing, certificate)
    except ValueError as err:
        print(f"ocfaj simulate ocf: {err}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await run_control(servers, stop)
    finally:
        await listing.shutdown()
    return 0


def _servers(args: argparse.Namespace, devices: list[SimDevice], listing: SimListing,
             certificate: Any = None) -> list[SimServer]:
    """One server per device; secured ones with their state file under ``--state-dir`` and
    the manufacturer certificate of ``--mfg-cert``."""
    def port(index: int) -> int:
        return int(args.device_port) + index if args.device_port else 0

    if not args.secure:
        return [OcfSimServer(device, listing, bind_host=args.bind, port=port(index))
                for index, device in enumerate(devices)]
    from bridge.ocf.dtls_lib import load
    from bridge.sim.ocf_secure import SecureOcfSimServer
    from bridge.sim.ocf_secure_state import SecureStateFile

    load()  # a missing DTLS library stops here, with what to install
    servers: list[SimServer] = []
    for index, device in enumerate(devices):
        options: dict[str, Any] = {}
        if certificate is not None:
            options["certificate"] = certificate
        if args.state_dir is not None:
            options["state_file"] = SecureStateFile(args.state_dir, index + 1)
        servers.append(SecureOcfSimServer(device, listing, bind_host=args.bind,
                                          port=port(index), **options))
    return servers


def main() -> int:
    parser = argparse.ArgumentParser(prog="ocfaj simulate ocf", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
