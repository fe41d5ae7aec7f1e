"""``ocfaj devices``: what a running gateway has bridged, over its D-Bus control interface.

Layer: ``bridge.daemon``. Read-only: it asks the gateway (``org.ocfaj.Gateway1.ListDevices``)
and prints a table or, with ``--json``, the full description. Any user may run it: it reads
only the parts of the configuration this user may read (never the secrets file), and without
a gateway name it asks the only gateway on the bus.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from bridge.daemon.cli import add_config_flag, add_config_options, client_config

if TYPE_CHECKING:
    from bridge.daemon.cli import Subparsers


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "devices", help="list the devices of a running gateway",
        description="List the devices a running gateway knows: origin side, name, ids, "
                    "capabilities, availability and where each is bridged.")
    add_config_options(parser, bus_key="gateway.control_bus")
    add_config_flag(parser, "--name", "gateway.name",
                    "the gateway to ask (default: the configured one, else the only one on "
                    "the bus)", metavar="NAME")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=_devices)


def _devices(args: argparse.Namespace) -> int:
    from bridge.alljoyn.control import query

    config, named = client_config(args)
    bus = config.gateway.control_bus or config.alljoyn.bus
    name = config.gateway.name if named else None
    which = f"gateway {name!r}" if name is not None else "the gateway"
    try:
        rows = asyncio.run(query(bus, name, "ListDevices"))
    except PermissionError as err:
        print(f"ocfaj: {which} on bus {bus} may not be asked by this user: {err}; only root "
              "and members of the group ocfaj may (sudo adduser $USER ocfaj, then log in "
              "again)", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, ValueError) as err:
        print(f"ocfaj: cannot reach {which} on bus {bus}: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
    elif not rows:
        print(f"no devices: {which} knows none yet")
    else:
        print(render_table(rows))
        for line in security_lines(rows):
            print(line)
    return 0


def security_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line per secured virtual OCF device (``[ocf] secure_virtual_devices``): its
    onboarding state, and its Random PIN while it is unowned."""
    lines = []
    for row in rows:
        facts = row.get("ocf_security")
        if not isinstance(facts, dict):
            continue
        name = row.get("name", "")
        if facts.get("owned"):
            lines.append(f"OCF {name}: owned, {facts.get('state')}, uuid {facts.get('deviceuuid')}")
            continue
        line = (f"OCF {name}: unowned, uuid {facts.get('deviceuuid')}, Random PIN "
                f"{facts.get('pin')}")
        if facts.get("waiting"):
            line += f" ({facts['waiting']})"
        lines.append(line)
    return lines


def render_table(rows: list[dict[str, Any]], *, compact: bool = False) -> str:
    """A fixed-width table of devices (also used by ``ocfaj demo``).

    ``compact`` leaves out the ids and shows only property values, for a terminal-wide view.
    """
    header: tuple[str, ...] = ("ORIGIN", "NAME", "TYPE", "STATE", "BRIDGED TO", "ID",
                               "CAPABILITIES")
    if compact:
        header = ("ORIGIN", "NAME", "TYPE", "STATE", "BRIDGED TO", "VALUES")
    lines = [header]
    for row in rows:
        if row.get("not_bridgeable"):
            state = "not bridgeable"
        elif row.get("virtual"):
            state = "virtual"
        else:
            state = "up" if row.get("available") else "gone"
        capabilities = sorted(row.get("capabilities", {}).items())
        if compact:
            values = " ".join(_short(cap.get("state", {})).replace(",", " ")
                              for _, cap in capabilities)
            lines.append((row.get("origin", ""), row.get("name", ""),
                          row.get("device_type", ""), state,
                          ",".join(row.get("bridged_to", [])) or "-", values))
            continue
        caps = "; ".join(_values(key, cap.get("state", {})) for key, cap in capabilities)
        lines.append((row.get("origin", ""), row.get("name", ""), row.get("device_type", ""),
                      state, ",".join(row.get("bridged_to", [])) or "-", row.get("id", ""),
                      caps))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        cells = [str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)]
        out.append("  ".join([*cells, str(line[-1])]).rstrip())
    return "\n".join(out)


def _values(key: str, state: dict[str, Any]) -> str:
    """``brightness=60`` (a property named like its capability), else ``switch.on=true``."""
    return ",".join(pair if name == key else f"{key}.{pair}" for name, pair in _pairs(state))


def _short(state: dict[str, Any]) -> str:
    return ",".join(pair for _, pair in _pairs(state))


def _pairs(state: dict[str, Any]) -> list[tuple[str, str]]:
    parts = []
    for key, value in sorted(state.items()):
        if isinstance(value, float):
            value = round(value, 2)
        parts.append((key, f"{key}={json.dumps(value)}"))
    return parts
