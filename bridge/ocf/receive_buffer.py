"""Receive buffers of the gateway's client sockets, sized for bursts of answers.

Layer: ``bridge.ocf`` I/O (socket options only). One multicast ``GET /oic/res`` makes every
device on the link answer at once, and a round that finds hundreds of devices reads many of
them at once: while the event loop is busy, the answers wait in the socket's receive buffer,
and those beyond it are dropped by the kernel (``RcvbufErrors`` in ``/proc/net/snmp``). A
dropped multicast reply is never sent again; a dropped answer to a confirmable request costs
a retransmission (2 s or more). The kernel's default buffer (``net.core.rmem_default``, about
208 KiB, which it charges 2 KiB or more per datagram) holds about a hundred answers. The
gateway asks for :data:`RECEIVE_BUFFER`; the kernel grants at most ``net.core.rmem_max``
(docs/ocf.md, "Receive buffers"). :func:`drops` reads the kernel's count of such drops, so
that a discovery round during which some happened can be followed up. It must not open or
bind sockets itself.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

from bridge.ocf.aiocoap_overrides import udp_message_manager

log = logging.getLogger("ocfaj.ocf.sockets")

#: Bytes of receive buffer asked for each client socket (the kernel may grant less).
RECEIVE_BUFFER = 4 * 1024 * 1024
#: Linux's UDP counters of the network namespace: IPv4, and IPv6 (separate files).
_COUNTERS = ((Path("/proc/net/snmp"), "RcvbufErrors"), (Path("/proc/net/snmp6"),
                                                         "Udp6RcvbufErrors"))


def enlarge(sock: socket.socket, what: str) -> int:
    """Ask for :data:`RECEIVE_BUFFER` on ``sock``; returns what the kernel granted."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        granted = int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
    except OSError as err:
        log.debug("%s: receive buffer left as it is (%s)", what, err)
        return 0
    log.debug("%s: receive buffer %d KiB", what, granted // 1024)
    return granted


def enlarge_context(context: Any, what: str) -> int:
    """:func:`enlarge` the UDP socket of an aiocoap context's ``udp6`` transport (0: none)."""
    manager = udp_message_manager(context)
    transport = getattr(manager.message_interface, "transport", None) if manager else None
    sock = transport.get_extra_info("socket") if transport is not None else None
    return enlarge(sock, what) if sock is not None else 0


def drops() -> int:
    """UDP datagrams the kernel dropped for full receive buffers so far, over every socket of
    the network namespace (0 where the counters cannot be read: not Linux)."""
    total = 0
    for path, name in _COUNTERS:
        try:
            text = path.read_text()
        except OSError:
            continue
        total += _counter(text, name)
    return total


def _counter(text: str, name: str) -> int:
    """``name`` in ``/proc/net/snmp`` (a ``Udp:`` line of names, then one of values) or in
    ``/proc/net/snmp6`` (one ``name value`` per line)."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        fields = line.split()
        if len(fields) == 2 and fields[0] == name and fields[1].isdigit():
            return int(fields[1])
        if fields[:1] == ["Udp:"] and name in fields and number + 1 < len(lines):
            values = lines[number + 1].split()
            if values[:1] == ["Udp:"] and len(values) == len(fields):
                value = values[fields.index(name)]
                return int(value) if value.isdigit() else 0
    return 0
