"""Why a connection to a D-Bus bus failed, in words a user can act on.

Layer: ``bridge.alljoyn`` (pure: standard library only, no bus I/O). dbus-fast reports a missing
session bus as ``InvalidAddressError`` and a missing system bus as a bare "No such file or
directory"; :func:`bus_unavailable` turns such a failure into one :class:`BusUnavailable`
that names the bus, its socket, what was wrong and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from bridge.core.errors import BusUnavailable

#: The system bus address when ``DBUS_SYSTEM_BUS_ADDRESS`` is not set (D-Bus specification,
#: "Well-known Message Bus Instances").
SYSTEM_BUS_DEFAULT = "unix:path=/var/run/dbus/system_bus_socket"

BusKind = Literal["system", "session", "address"]


def bus_address(kind: BusKind, address: str, env: Mapping[str, str] = os.environ) -> str:
    """The address a connection to this bus uses ("" for a session bus that is not set)."""
    if kind == "address":
        return address
    if kind == "system":
        return env.get("DBUS_SYSTEM_BUS_ADDRESS") or SYSTEM_BUS_DEFAULT
    return env.get("DBUS_SESSION_BUS_ADDRESS", "")


def socket_path(address: str) -> str:
    """The ``path=`` of the first ``unix:`` address, or ""."""
    for part in address.split(";"):
        transport, _, params = part.partition(":")
        if transport == "unix":
            for pair in params.split(","):
                key, _, value = pair.partition("=")
                if key == "path":
                    return value
    return ""


def bus_unavailable(kind: BusKind, label: str, address: str, err: BaseException,
                    within: float) -> BusUnavailable:
    """The error to raise when connecting to the bus ``label`` (``the system bus``...) failed."""
    if kind == "session" and not address:
        return BusUnavailable(label, "no session bus: DBUS_SESSION_BUS_ADDRESS is not set; run "
                              "in a desktop session or under dbus-run-session, or choose the "
                              "system bus or a bus address instead")
    path = socket_path(address)
    where = f"{label} (socket {path})" if path and kind != "address" else label
    if isinstance(err, FileNotFoundError):
        problem = "the socket does not exist"
    elif isinstance(err, ConnectionRefusedError):
        problem = "nothing listens on the socket"
    elif isinstance(err, PermissionError):
        problem = "permission denied on the socket"
    elif isinstance(err, TimeoutError):
        problem = f"no answer within {within:g} s"
    else:
        problem = str(err) or type(err).__name__
    todo = ("is dbus running? (systemctl status dbus)" if kind == "system"
            else "is its dbus-daemon running?")
    return BusUnavailable(label, f"cannot connect to {where}: {problem}; {todo} Or choose "
                                 "another bus.")
