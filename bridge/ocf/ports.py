"""Ephemeral UDP ports that an OCF server endpoint has to itself.

Layer: ``bridge.ocf`` I/O (plain sockets only; no asyncio, no aiocoap). aiocoap binds every
server socket with ``SO_REUSEPORT`` (so that several processes can listen to the CoAP multicast
port), and Linux gives a socket with that option which binds port 0 any port whose sockets all
have it too and belong to the same user. Two endpoints then share one port, and the kernel hands
each datagram to one of them by a hash of its source: a client reaches only one of the two, and
the other device is never heard of, without any error (docs/ocf.md, "Ports of their own").

:func:`unshared_port` asks the kernel for a port with a socket *without* the option, which only
gets a port no socket holds, on any address; the endpoint then binds that port by number.
:func:`keep_to_itself` clears the option on the bound socket, so that no later bind to port 0,
from this process or another, can join it. Between the probe and the bind the port is free
again, and endpoints of this process may be started several at once (the virtual devices
are): a port handed out stays *claimed* until :func:`release_port`, after the endpoint bound it
and cleared the option, so no second endpoint of this process is handed it meanwhile.
"""

from __future__ import annotations

import errno
import socket
from typing import Protocol

#: Where Linux takes ephemeral ports from (per network namespace).
PORT_RANGE_SETTING = "net.ipv4.ip_local_port_range"


#: Ports handed out by :func:`unshared_port` and not released yet (not bound, or bound and
#: still to be kept to the endpoint's socket alone).
_claimed: set[int] = set()
#: Probes before giving up on a port that no endpoint of this process claims.
PROBES = 64


def unshared_port() -> int:
    """A UDP port no socket holds now, on any address of either family, and that no other
    caller of this process holds a claim on; claimed until :func:`release_port`.

    Raises ``OSError`` (``EADDRINUSE``) saying so when the ephemeral range has none left.
    """
    for _ in range(PROBES):
        port = _probe()
        if port not in _claimed:
            _claimed.add(port)
            return port
    raise OSError(errno.EADDRINUSE, f"no free UDP port left in the ephemeral range "
                                    f"({PORT_RANGE_SETTING}) after {PROBES} probes")


def release_port(port: int) -> None:
    """End the claim :func:`unshared_port` gave on ``port`` (none: nothing happens)."""
    _claimed.discard(port)


def _probe() -> int:
    probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        probe.bind(("::", 0))
        port: int = probe.getsockname()[1]
    except OSError as err:
        if err.errno not in (errno.EADDRINUSE, errno.EAGAIN, errno.EADDRNOTAVAIL):
            raise
        raise OSError(errno.EADDRINUSE, f"no free UDP port left in the ephemeral range "
                                        f"({PORT_RANGE_SETTING})") from None
    finally:
        probe.close()
    return port


class BoundSocket(Protocol):
    """A bound socket, or the view of one an asyncio transport gives (``get_extra_info``)."""

    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...


def keep_to_itself(sock: BoundSocket) -> None:
    """Let no later ``SO_REUSEPORT`` socket join the port ``sock`` is bound to."""
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 0)
