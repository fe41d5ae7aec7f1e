"""Network interfaces and local addresses, as the OCF side needs them.

Layer: ``bridge.ocf`` I/O helper (reads ``/sys/class/net``, opens throw-away UDP sockets that
never send). Discovery and the multicast listener use :func:`multicast_interfaces`; servers
use :func:`local_address_towards` to print ``eps`` in the requester's address family.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFF_MULTICAST = 0x1000


def _flags(name: str) -> int:
    try:
        return int((Path("/sys/class/net") / name / "flags").read_text().strip(), 16)
    except (OSError, ValueError):
        return 0


def multicast_interfaces(configured: tuple[str, ...]) -> list[str]:
    """``configured`` when given, else every interface that is up, multicast and not loopback.

    Real OCF stacks skip loopback for discovery (docs/ocf.md, "Interoperability"); so does ocfaj.
    """
    if configured:
        return list(configured)
    names = [name for _, name in socket.if_nameindex()]
    return [n for n in names
            if (_flags(n) & (_IFF_UP | _IFF_MULTICAST)) == (_IFF_UP | _IFF_MULTICAST)
            and not _flags(n) & _IFF_LOOPBACK]


def unmapped(host: str) -> str:
    """``::ffff:1.2.3.4`` (a dual-stack socket's view of an IPv4 peer) as ``1.2.3.4``."""
    if host.startswith("::ffff:") and "." in host:
        return host[len("::ffff:"):]
    return host


def local_address_towards(host: str, scope_id: int = 0) -> str:
    """The local address the kernel uses to reach ``host`` (connecting UDP sends nothing).

    Link-local results come without a zone, as OCF prints them: the peer adds its own.
    """
    host = unmapped(host.split("%", 1)[0])
    address = ipaddress.ip_address(host)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            if family == socket.AF_INET6:
                sock.connect((host, 9, 0, scope_id))
            else:
                sock.connect((host, 9))
        except OSError:
            return ""
        local: str = sock.getsockname()[0]
    return local.split("%", 1)[0]
