"""``ocfaj onboard`` and ``ocfaj offboard``: own a secured OCF device with its PIN or its
manufacturer certificate, or give it back.

Layer: ``bridge.daemon`` (CLI over ``bridge.daemon.onboarding_action`` and the credentials
file). ``onboard`` without an address finds unowned devices by multicast
(``/oic/sec/doxm?owned=FALSE`` on the configured interfaces, IPv4 and IPv6) and lists them
with their ownership methods; with ``--pin`` or ``--method`` (and ``--uuid`` when several
answered) it owns one. ``onboard --device coap://HOST:PORT`` does the same for one device by
unicast. Owning means: the ownership transfer (the manufacturer certificate when the device
offers it and ``[ocf] manufacturer_trust_anchors`` trusts its chain, else Random PIN;
``--method`` forces one), the gateway's access provisioned, the owner PSK stored
in the state directory (a running gateway with that state directory bridges the device
within a discovery round). ``onboard --list`` shows owned devices (never a key).
``offboard UUID`` resets the device to RFOTM and forgets its credential.
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

def add_parser(subparsers: Subparsers) -> None:
    from bridge.daemon.cli import add_config_options

    parser = subparsers.add_parser(
        "onboard", help="take ownership of a secured OCF device",
        description="Show a secured OCF device's ownership methods, or own it (by its "
                    "manufacturer certificate when [ocf] manufacturer_trust_anchors trusts "
                    "it, else with the PIN it shows) and give this gateway access to its "
                    "resources.")
    add_config_options(parser)
    parser.add_argument("--device", metavar="URI", help="the device's coap://HOST:PORT "
                                                       "(default: find unowned devices by "
                                                       "multicast)")
    parser.add_argument("--uuid", default="", help="which of the unowned devices found to own "
                                                   "(needed when several answered)")
    parser.add_argument("--pin", help="the PIN the device shows (8 digits)")
    parser.add_argument("--method", choices=("pin", "mfgcert"),
                        help="own by this method only: 'pin' (Random PIN, needs --pin) or "
                             "'mfgcert' (manufacturer certificate, needs [ocf] "
                             "manufacturer_trust_anchors); default: the certificate when "
                             "offered and trusted, else the PIN")
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
    try:
        return asyncio.run(_take(args, store))
    except BridgeError as err:
        print(f"ocfaj onboard: {err}", file=sys.stderr)
        return 1


async def _take(args: argparse.Namespace, store: Any) -> int:
    from bridge.daemon import onboarding_action as action
    from bridge.daemon.cli import config_from_args

    if args.device:
        devices = [await _one(args.device)]
    else:
        devices = await action.discover(config_from_args(args))
        print(f"{len(devices)} unowned OCF devices answered")
    for device in devices:
        print("\n".join(action.describe(device)))
    if args.pin is None and args.method is None:
        return 0
    device = action.pick(devices, args.uuid)
    config = config_from_args(args)
    owned = await action.own(store, device, args.pin, method=args.method,
                             anchors=action.trust_anchors(config))
    if owned.refused:
        print(f"not by manufacturer certificate: {owned.refused}")
    print(f"owned {device.name!r} by {owned.method}: new uuid {owned.record.uuid}, access to "
          f"{owned.resources} resources")
    return 0


async def _one(address: str) -> Any:
    from bridge.core.errors import SecurityError
    from bridge.ocf import onboarding
    from bridge.ocf.coap_client import OcfClient
    from bridge.ocf.links import parse_endpoint, parse_res, select_endpoint
    from bridge.ocf.unowned import UnownedDevice

    plain = parse_endpoint(address)
    if plain is None or plain.secure:
        raise SecurityError(address, "not a coap://HOST:PORT")
    client = OcfClient(10.0, 65536)
    await client.start()
    try:
        links = parse_res(await client.get(plain, "/oic/res"), plain)
        doxm = await onboarding.read_doxm(client, plain)
        name = str((await client.get(plain, "/oic/d")).get("n", ""))
    finally:
        await client.shutdown()
    if doxm.get("owned"):
        raise SecurityError(plain.uri, f"device {name!r} is owned already")
    device = uuid.UUID(str(doxm.get("deviceuuid")))
    mine = [link for link in links if link.di == str(device)] or links
    oxms = tuple(o for o in doxm.get("oxms") or [] if isinstance(o, int))
    secure = select_endpoint([ep for link in mine for ep in link.eps], secure=True)
    return UnownedDevice(device, name, oxms, plain, secure, tuple(mine))


async def _offboard_at(args: argparse.Namespace, store: Any, record: Any, stored: Any) -> None:
    """Offboard at the endpoint the device answers on now (a restarted device may have new
    ports), else at the stored one. The DTLS session with the owner key proves it is the
    device, whichever address answered."""
    from bridge.daemon import onboarding_action as action
    from bridge.daemon.cli import config_from_args
    from bridge.ocf import onboarding

    secure = await action.current_endpoint(config_from_args(args), record.uuid) or stored
    if secure != stored:
        print(f"{record.name!r} now serves coaps at {secure.uri} (stored: {stored.uri})")
    await onboarding.offboard(secure, store.own, record.uuid, record.key)


def _offboard(args: argparse.Namespace) -> int:
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
    stored = parse_endpoint(record.coaps) if record is not None else None
    if record is None or stored is None:
        print(f"ocfaj offboard: this gateway owns no device {device}", file=sys.stderr)
        return 1
    try:
        asyncio.run(_offboard_at(args, store, record, stored))
    except BridgeError as err:
        print(f"ocfaj offboard: {err} (the credential is kept)", file=sys.stderr)
        return 1
    store.remove(device)
    print(f"offboarded {record.name!r} ({device}): it is unowned again")
    return 0
