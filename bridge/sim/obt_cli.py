"""``ocfaj simulate obt``: a simulated OCF onboarding tool on the command line.

Layer: ``bridge.sim`` (command line front end of ``bridge.sim.ocf_obt``, which does the
work over the same DTLS library as the gateway). Each run does one action and prints its
result as one JSON object per line on stdout; what went wrong goes to stderr as ``ocfaj
simulate obt: ...`` with exit status 2 for bad arguments and 1 for a device that refused or
did not answer. The tool's uuid and the owner PSKs of what it owns live in ``--state-dir``
(``bridge.sim.obt_state``):

- ``discover``: unowned secured devices (``bridge.sim.obt_discovery``);
- ``own UUID --pin PIN``: the Random PIN ownership transfer of the unowned device ``UUID``;
  the device then has a new uuid, printed, by which the other actions name it;
- ``provision-client DEVICE --client-uuid U --psk-file F``: a pairwise PSK for client ``U``
  on ``DEVICE`` (read from ``F`` when it holds one, else new and written to ``F``, hex, mode
  0600) and an ACE for ``U`` (or, with ``--role``, for the role the credential grants) on
  ``--resources`` with ``--permission``;
- ``reset DEVICE``: back to RFOTM (pstat RESET), forgotten here;
- ``status DEVICE``: its doxm, pstat, cred (never a key) and acl2, read as its owner.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from bridge.core.errors import BridgeError
from bridge.ocf import svr
from bridge.ocf.links import Endpoint, parse_endpoint

PERMISSION_LETTERS = {"c": svr.CREATE, "r": svr.READ, "u": svr.UPDATE, "d": svr.DELETE,
                      "n": svr.NOTIFY}


class UsageError(ValueError):
    """A bad argument (exit status 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, required=True, metavar="DIR",
                        help="where the tool keeps its uuid and the owner keys of the "
                             "devices it owns (DIR/obt.json, mode 0600)")
    parser.add_argument("--interface", action="append", default=[], metavar="IFACE",
                        help="interface for multicast discovery (repeatable; default: all)")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="seconds to wait for each answer (default 5)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    discover = actions.add_parser("discover", help="list unowned secured OCF devices")
    _finding(discover)
    own = actions.add_parser("own", help="take ownership of an unowned device (Random PIN)")
    own.add_argument("uuid", help="the device's uuid, as discover shows it")
    own.add_argument("--pin", required=True, help="the PIN the device shows (8 digits)")
    _finding(own)
    client = actions.add_parser("provision-client",
                                help="give a client a pairwise key and access on a device")
    client.add_argument("device", help="the uuid of a device this tool owns")
    client.add_argument("--client-uuid", required=True, help="the client's uuid")
    client.add_argument("--psk-file", type=Path, required=True, metavar="FILE",
                        help="the client's key: read from FILE when it holds one (hex), "
                             "else made and written there (mode 0600)")
    client.add_argument("--resources", nargs="+", default=["*"], metavar="HREF",
                        help="hrefs the ACE grants; * = every resource but the SVRs "
                             "(default *)")
    client.add_argument("--permission", default="run",
                        help="letters of crudn: create, read, update, delete, notify "
                             "(default run)")
    client.add_argument("--role", help="the credential grants the client this role, and the "
                                       "ACE is for the role instead of the client's uuid")
    client.add_argument("--authority", default="", help="the role's authority (with --role)")
    reset = actions.add_parser("reset", help="reset an owned device to RFOTM (unowned)")
    reset.add_argument("device", help="the uuid of a device this tool owns")
    status = actions.add_parser("status", help="show an owned device's SVRs (never a key)")
    status.add_argument("device", help="the uuid of a device this tool owns")


def _finding(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", metavar="URI", dest="address",
                        help="ask this coap://HOST:PORT by unicast instead of multicast")
    parser.add_argument("--window", type=float, default=2.0, metavar="S",
                        help="seconds to collect the answers of each multicast round "
                             "(default 2)")


def parse_permission(text: str) -> int:
    """``crudn`` letters as ACE permission bits."""
    if not text or any(c not in PERMISSION_LETTERS for c in text) or len(set(text)) < len(text):
        raise UsageError(f"--permission {text!r}: letters of crudn, each once (create, read, "
                         f"update, delete, notify), e.g. rn")
    permission = 0
    for letter in text:
        permission |= PERMISSION_LETTERS[letter]
    return permission


def parse_uuid(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise UsageError(f"{what} {text!r} is not a uuid") from None


def _address(text: str | None) -> Endpoint | None:
    if text is None:
        return None
    endpoint = parse_endpoint(text)
    if endpoint is None or endpoint.secure:
        raise UsageError(f"--device {text!r}: not a coap://HOST:PORT")
    return endpoint


def read_psk(path: Path) -> bytes | None:
    """The key ``path`` holds (hex), None when there is no file."""
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError) as err:
        raise UsageError(f"--psk-file {path}: cannot be read ({err})") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) not in (16, 32):
        raise UsageError(f"--psk-file {path} holds no PSK (32 or 64 hex digits); remove it to "
                         f"have a new key made")
    return key


def _check(args: argparse.Namespace) -> None:
    """Every argument error, before anything is sent."""
    if args.timeout <= 0:
        raise UsageError("--timeout must be more than 0")
    if args.action in ("discover", "own"):
        _address(args.address)
        if args.window <= 0:
            raise UsageError("--window must be more than 0")
    if args.action == "own":
        parse_uuid(args.uuid, "the device")
        if len(args.pin) != 8 or not args.pin.isdigit():
            raise UsageError(f"--pin {args.pin!r}: a Random PIN has 8 digits")
    if args.action in ("provision-client", "reset", "status"):
        parse_uuid(args.device, "the device")
    if args.action == "provision-client":
        parse_uuid(args.client_uuid, "--client-uuid")
        parse_permission(args.permission)
        for href in args.resources:
            if href != "*" and not href.startswith("/"):
                raise UsageError(f"--resources {href!r}: an href (/switch) or *")
        if args.authority and not args.role:
            raise UsageError("--authority names the authority of a --role")
        read_psk(args.psk_file)


async def run(args: argparse.Namespace) -> int:
    from bridge.sim.obt_state import ToolState

    try:
        _check(args)
        state = ToolState.load(args.state_dir)
    except ValueError as err:
        print(f"ocfaj simulate obt: {err}", file=sys.stderr)
        return 2
    from bridge.ocf.dtls_lib import load

    load()  # a missing DTLS library stops here, with what to install
    try:
        for line in await _act(args, state):
            print(json.dumps(line, sort_keys=True), flush=True)
    except UsageError as err:
        print(f"ocfaj simulate obt: {err}", file=sys.stderr)
        return 2
    except (BridgeError, ValueError) as err:
        print(f"ocfaj simulate obt: {err}", file=sys.stderr)
        return 1
    return 0


async def _act(args: argparse.Namespace, state: Any) -> list[dict[str, Any]]:
    from bridge.sim.obt_state import ToolDevice
    from bridge.sim.ocf_obt import OnboardingTool

    tool = OnboardingTool(state.owner, request_timeout=args.timeout)
    if args.action in ("discover", "own"):
        found = await _discover(args)
        if args.action == "discover":
            print(f"{len(found)} unowned OCF devices answered", file=sys.stderr)
            return [{"uuid": str(d.uuid), "name": d.name, "oxms": list(d.oxms),
                     "plain": d.plain.uri, "coaps": d.secure.uri if d.secure else None}
                    for d in found]
        wanted = parse_uuid(args.uuid, "the device")
        device = next((d for d in found if d.uuid == wanted), None)
        if device is None:
            raise ValueError(f"no unowned device {wanted} answered (found: "
                             f"{', '.join(str(d.uuid) for d in found) or 'none'})")
        if device.secure is None:
            raise ValueError(f"device {wanted} lists no coaps endpoint")
        owned = await tool.own(device.plain, device.secure, args.pin)
        state.devices[owned.uuid] = ToolDevice(device.name, device.secure.uri, owned.key)
        state.save()
        return [{"owned": str(owned.uuid), "was": str(wanted), "name": device.name,
                 "coaps": device.secure.uri}]
    device_id = parse_uuid(args.device, "the device")
    owned = state.owned(device_id)
    if args.action == "provision-client":
        return [await _provision(args, state, tool, owned)]
    if args.action == "reset":
        await tool.reset(owned)
        del state.devices[device_id]
        state.save()
        return [{"reset": str(device_id)}]
    doxm, pstat, cred, acl2 = [await tool.read(owned, href)
                               for href in (svr.DOXM, svr.PSTAT, svr.CRED, svr.ACL2)]
    creds = [{k: v for k, v in c.items() if k != "privatedata"}
             for c in (cred.get("creds") or []) if isinstance(c, dict)]
    return [{"uuid": str(device_id), "name": state.devices[device_id].name,
             "coaps": state.devices[device_id].coaps, "doxm": doxm, "pstat": pstat,
             "creds": creds, "aclist2": acl2.get("aclist2", [])}]


async def _discover(args: argparse.Namespace) -> list[Any]:
    from bridge.ocf.coap_client import OcfClient
    from bridge.sim.obt_discovery import find_unowned

    client = OcfClient(args.timeout, 65536)
    await client.start()
    try:
        return await find_unowned(client, interfaces=args.interface, window=args.window,
                                  device=_address(args.address))
    finally:
        await client.shutdown()


async def _provision(args: argparse.Namespace, state: Any, tool: Any, owned: Any
                     ) -> dict[str, Any]:
    from bridge.sim.ocf_obt import client_ace, role_ace
    from bridge.sim.private_files import write_private

    client = parse_uuid(args.client_uuid, "--client-uuid")
    permission = parse_permission(args.permission)
    role = (args.role, args.authority) if args.role else None
    key = read_psk(args.psk_file)
    if key is None:
        key = os.urandom(16)
        write_private(args.psk_file, key.hex().encode("ascii") + b"\n")
    aces = [role_ace(role, args.resources, permission) if role is not None
            else client_ace(client, args.resources, permission)]
    await tool.provision(owned, client, aces, key=key, role=role)
    entry = state.devices[owned.uuid]
    if str(client) not in entry.clients:
        entry.clients.append(str(client))
    state.save()
    result: dict[str, Any] = {"device": str(owned.uuid), "client": str(client),
                              "resources": list(args.resources), "permission": permission,
                              "psk_file": str(args.psk_file)}
    if role is not None:
        result["role"] = {"role": role[0], "authority": role[1]}
    return result


def main() -> int:
    import asyncio

    parser = argparse.ArgumentParser(prog="ocfaj simulate obt", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
