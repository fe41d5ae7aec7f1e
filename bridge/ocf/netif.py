"""Network interfaces and local addresses, as the OCF side needs them.

Layer: ``bridge.ocf`` I/O helper (reads ``/sys/class/net`` and the routing tables in
``/proc/net``, opens throw-away UDP sockets that never send). Discovery and the multicast
listener use :func:`multicast_interfaces`; servers use :func:`local_address_towards` to print
``eps`` in the requester's address family, and :class:`OnLink` and :class:`InterfaceNames` to
decide whom to answer (``bridge.ocf.admission``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFF_MULTICAST = 0x1000
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


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


# -- where a datagram came from: arrival interface and on-link sources ----------------------

_RTF_UP = 0x1
_RTF_GATEWAY = 0x2
_RTF_REJECT = 0x200
#: Seconds a read of the routing tables is reused: multicast requests may come in floods.
ROUTES_TTL = 1.0


def _ipv4_routes(text: str) -> list[tuple[str, ipaddress.IPv4Network]]:
    """The on-link (no gateway) routes of ``/proc/net/route``: (interface, network)."""
    routes = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        flags = int(fields[3], 16)
        if not flags & _RTF_UP or flags & (_RTF_GATEWAY | _RTF_REJECT):
            continue
        # Little-endian hex of the address and of the mask.
        dest = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(fields[1]), "little"))
        mask = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(fields[7]), "little"))
        routes.append((fields[0], ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)))
    return routes


def _ipv6_routes(text: str) -> list[tuple[str, ipaddress.IPv6Network]]:
    """The on-link routes of ``/proc/net/ipv6_route``: (interface, network)."""
    routes = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10:
            continue
        flags = int(fields[8], 16)
        if (not flags & _RTF_UP or flags & (_RTF_GATEWAY | _RTF_REJECT)
                or int(fields[4], 16) != 0):
            continue
        dest = ipaddress.IPv6Address(int(fields[0], 16))
        routes.append((fields[9], ipaddress.IPv6Network(f"{dest}/{int(fields[1], 16)}",
                                                        strict=False)))
    return routes


class OnLink:
    """Whether a source address is on the link of an interface, as the kernel routes it.

    On the link means: the kernel has a route to it on that interface without a gateway
    (``/proc/net/route``, ``/proc/net/ipv6_route``); an IPv6 link-local source always is.
    A source reached through a router is off-link.
    """

    def __init__(self, proc: Path = Path("/proc/net"), ttl: float = ROUTES_TTL) -> None:
        self._proc = proc
        self._ttl = ttl
        self._read_at = -ttl
        self._routes: list[tuple[str, _Net]] = []

    def __call__(self, host: str, ifname: str, now: float) -> bool:
        try:
            address = ipaddress.ip_address(unmapped(host.split("%", 1)[0]))
        except ValueError:
            return False
        if address.version == 6 and address.is_link_local:
            return True
        if now - self._read_at >= self._ttl:
            self._read_at = now
            self._routes = [*self._read("route", _ipv4_routes),
                            *self._read("ipv6_route", _ipv6_routes)]
        return any(name == ifname and address in network for name, network in self._routes
                   if network.version == address.version)

    def _read(self, name: str, parse: Callable[[str], Sequence[tuple[str, _Net]]]) -> list[
            tuple[str, _Net]]:
        try:
            return list(parse((self._proc / name).read_text()))
        except (OSError, ValueError):
            return []


class InterfaceNames:
    """Interface index -> name, remembered (the kernel does not reuse an index soon)."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def __call__(self, index: int) -> str:
        name = self._names.get(index)
        if name is None:
            try:
                name = socket.if_indextoname(index)
            except OSError:
                return ""
            self._names[index] = name
        return name
