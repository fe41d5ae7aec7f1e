"""``ocfaj onboard`` and ``ocfaj offboard``: own a secured OCF device with its PIN, or give
it back.

Layer: ``bridge.daemon`` (CLI over ``bridge.ocf.onboarding`` and the credentials file).
``onboard --device coap://HOST:PORT`` reads the device's ``/oic/res`` (its coaps endpoint and
resources) and ``/oic/sec/doxm`` (owned? which methods?); without ``--pin`` it only shows
them; with ``--pin`` it takes ownership by Random PIN, provisions the gateway's access and
stores the owner PSK in the state directory. ``onboard --list`` shows owned devices (never a
key). ``offboard UUID`` resets the device to RFOTM and forgets its credential.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import TYPE_CHECKING, Any

from bridge.core.errors import BridgeError

if TYPE_CHECKING:
    from bridge.daemon.cli import Subparsers

METHODS = {0: "Just Works (not supported: needs an anonymous ECDH suite that OpenSSL lacks)",
           1: "Random PIN", 2: "manufacturer certificate (not supported yet)"}


def add_parser(subparsers: Subparsers) -> None:
    from bridge.daemon.cli import add_config_options

    parser = subparsers.add_parser(
        "onboard", help="take ownership of a secured OCF device",
        description="Show a secured OCF device's ownership methods, or own it with the PIN it "
                    "shows (Random PIN) and give this gateway access to its resources.")
    add_config_options(parser)
    parser.add_argument("--device", metavar="URI", help="the device's coap://HOST:PORT")
    parser.add_argument("--pin", help="the PIN the device shows (8 digits)")
    parser.add_argument("--list", action="store_true", help="list the devices this gateway "
                                                           "owns")
    parser.set_defaults(handler=_onboard)
    off = subparsers.add_parser("offboard", help="give a secured OCF device back (RFOTM)",
                                description="Reset an owned device to RFOTM and remove its "
                                            "credential from this gateway.")
    add_config_options(off)
    off.add_argument("device", help="the uuid of an owned device (see onboard --list)")
    off.set_defaults(handler=_offboard)


def _store(args: argparse.Namespace) -> Any:
    from bridge.daemon.cli import config_from_args
    from bridge.daemon.ocf_credentials import OcfCredentials

    config = config_from_args(args)
    return OcfCredentials(config.gateway.state_dir).load()


def _onboard(args: argparse.Namespace) -> int:
    from bridge.ocf.dtls_lib import load

    load()
    store = _store(args)
    if args.list:
        for record in store.devices.values():
            print(f"{record.uuid}  {record.name}  {record.coaps}")
        return 0
    if not args.device:
        print("ocfaj onboard: give --device coap://HOST:PORT (or --list)", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_take(args, store))
    except BridgeError as err:
        print(f"ocfaj onboard: {err}", file=sys.stderr)
        return 1


async def _take(args: argparse.Namespace, store: Any) -> int:
    from bridge.daemon.ocf_credentials import OwnedRecord
    from bridge.ocf import onboarding
    from bridge.ocf.coap_client import OcfClient
    from bridge.ocf.links import parse_endpoint, parse_res

    plain = parse_endpoint(args.device)
    if plain is None or plain.secure:
        print(f"ocfaj onboard: {args.device!r} is not a coap://HOST:PORT", file=sys.stderr)
        return 2
    client = OcfClient(10.0, 65536)
    await client.start()
    try:
        links = parse_res(await client.get(plain, "/oic/res"), plain)
        doxm = await onboarding.read_doxm(client, plain)
        name = str((await client.get(plain, "/oic/d")).get("n", ""))
    finally:
        await client.shutdown()
    secure = next((ep for link in links for ep in link.eps if ep.scheme == "coaps"), None)
    grants = {link.href: onboarding.permission_for(link.ifs) for link in links
              if not link.href.startswith("/oic/")}
    print(f"device {name!r} uuid {doxm.get('deviceuuid')} owned {doxm.get('owned')}")
    for oxm in doxm.get("oxms") or []:
        print(f"  ownership method {oxm}: {METHODS.get(oxm, 'unknown')}")
    if args.pin is None:
        return 0
    if secure is None:
        print("ocfaj onboard: the device lists no coaps endpoint", file=sys.stderr)
        return 1
    owned = await onboarding.take_ownership(plain, secure, args.pin, store.own, grants)
    store.add(OwnedRecord(owned.uuid, name, secure.uri, owned.key))
    print(f"owned {name!r}: new uuid {owned.uuid}, access to {len(grants)} resources")
    return 0


def _offboard(args: argparse.Namespace) -> int:
    from bridge.ocf import onboarding
    from bridge.ocf.dtls_lib import load
    from bridge.ocf.links import parse_endpoint

    load()
    store = _store(args)
    try:
        device = uuid.UUID(args.device)
    except ValueError:
        print(f"ocfaj offboard: {args.device!r} is not a uuid", file=sys.stderr)
        return 2
    record = store.devices.get(device)
    secure = parse_endpoint(record.coaps) if record is not None else None
    if record is None or secure is None:
        print(f"ocfaj offboard: this gateway owns no device {device}", file=sys.stderr)
        return 1
    try:
        asyncio.run(onboarding.offboard(secure, store.own, device, record.key))
    except BridgeError as err:
        print(f"ocfaj offboard: {err} (the credential is kept)", file=sys.stderr)
        return 1
    store.remove(device)
    print(f"offboarded {record.name!r} ({device}): it is unowned again")
    return 0
