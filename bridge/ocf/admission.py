"""Which incoming CoAP requests an endpoint takes at all, before aiocoap keeps anything.

Layer: ``bridge.ocf`` I/O (aiocoap messages and its message layer). aiocoap remembers every
request it receives, with its answer, for the exchange lifetime (247 s, RFC 7252 section 4.5)
so that a repeated request gets the same answer; it has no limit, so a flood of requests is a
flood of memory. :class:`Admission` sits in front of the message layer of one endpoint
(``MessageManager.dispatch_message``, the entry point aiocoap's UDP transport calls for each
decoded datagram; aiocoap offers no admission hook of its own) and, for each request:

1. drops it when it arrived on an interface the user did not name in ``ocf.interfaces``
   (loopback is always taken: it comes from this machine);
2. for a multicast request, drops it when its source is not on the link it arrived on, or
   when that source is past its ``multicast_answers_per_second`` (an ``/oic/res`` answer is
   many times the size of the request: unlimited answers would amplify a flood);
3. counts it in the shared :class:`~bridge.ocf.limits.Window`; past ``max_requests_per_client``
   or ``max_requests`` a unicast request gets 5.03 with Max-Age, sent straight by the
   transport so that aiocoap remembers nothing of it, and a multicast one is dropped.

It must not parse requests beyond the message aiocoap decoded, nor answer them otherwise.
"""

from __future__ import annotations

import functools
import logging
import os
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiocoap import ACK, CON, NON, Message
from aiocoap.numbers.codes import Code

from bridge.ocf.limits import ClientLimits, retry_after
from bridge.ocf.netif import InterfaceNames, OnLink, unmapped

log = logging.getLogger("ocfaj.ocf.limits")

#: ``struct in6_pktinfo`` (RFC 3542): the local address and interface a datagram arrived on.
_PKTINFO = struct.Struct("16sI")
#: Seconds between two log lines about the same kind of refusal.
LOG_EVERY = 60.0


def client_host(remote: Any) -> str:
    """The client address of ``remote`` (ports aside), with its zone for link-local ones."""
    return sockaddr_host(remote.sockaddr)


def sockaddr_host(sockaddr: Any) -> str:
    """The client address of a socket address (ports aside), as :func:`client_host`."""
    host = unmapped(str(sockaddr[0]).split("%", 1)[0])
    scope = sockaddr[3] if len(sockaddr) > 3 else 0
    return f"{host}%{scope}" if scope else host


def arrival_index(remote: Any) -> int:
    """The index of the interface ``remote``'s datagram arrived on (0: unknown)."""
    return pktinfo_index(getattr(remote, "pktinfo", None))


def pktinfo_index(pktinfo: bytes | None) -> int:
    """The interface index of a datagram's ``IPV6_PKTINFO`` data (0: unknown)."""
    if not pktinfo or len(pktinfo) < _PKTINFO.size:
        return 0
    index: int = _PKTINFO.unpack_from(pktinfo)[1]
    return index


class _Throttled:
    """One log line per kind of refusal and ``LOG_EVERY`` seconds, with the count between."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, kind: str, text: str, *args: object) -> None:
        now = time.monotonic()
        last, skipped = self._last.get(kind, (-LOG_EVERY, 0))
        if now - last < LOG_EVERY:
            self._last[kind] = (last, skipped + 1)
            return
        self._last[kind] = (now, 0)
        more = f" ({skipped} more since the last report)" if skipped else ""
        log.warning(text + more, *args)


#: A source -> its client address (``sockaddr_host``), for the sources seen last (all
#: endpoints). The key is the address alone (``sockaddr[0]``) for a source without a zone,
#: whose client address does not depend on its port, and the whole socket address for a
#: zoned (link-local) one, whose zone is part of it.
_SOURCES: dict[Any, str] = {}
#: Sources remembered in ``_SOURCES`` (then it starts over).
SOURCES = 256
#: The interface sets in use, each kept once.
_SETS: dict[frozenset[str], frozenset[str]] = {}
#: Interface set -> the IPV6_PKTINFO values of arrivals :meth:`Admission.admits` found on
#: one of its interfaces (an interface's index names it while it exists).
_TAKEN: dict[frozenset[str], set[bytes]] = {}
#: Values remembered per interface set in ``_TAKEN`` (then it starts over).
ARRIVALS = 64
#: Interface index -> name, for every endpoint of the process (the host's interfaces).
_INTERFACE_NAMES = InterfaceNames()


class Admission:
    """The gate in front of one endpoint's aiocoap message layer."""

    def __init__(self, limits: ClientLimits, interfaces: Sequence[str] = (), *,
                 what: str = "CoAP server") -> None:
        self.limits = limits
        #: interface names requests may arrive on; empty: any. One set for all endpoints that
        #: have the same (every virtual device has one endpoint).
        wanted = frozenset(interfaces)
        self.interfaces = _SETS.setdefault(wanted, wanted)
        self.what = what
        self._names = _INTERFACE_NAMES
        self._pass: Callable[[Any], None] | None = None
        self._manager: Any = None

    # Made when first needed: most endpoints (a virtual device's) never answer multicast and
    # never refuse anything, and there is one gate per endpoint.
    @functools.cached_property
    def _on_link(self) -> OnLink:
        return OnLink()

    @functools.cached_property
    def _report(self) -> _Throttled:
        return _Throttled()

    def install(self, manager: Any) -> None:
        """Put the gate in front of ``manager`` (aiocoap's ``MessageManager`` of one context)."""
        self._manager = manager
        self._pass = manager.dispatch_message
        manager.dispatch_message = self.dispatch

    def dispatch(self, message: Any) -> None:
        assert self._pass is not None
        if not message.code.is_request() or self._admitted(message):
            self._pass(message)

    def admits(self, sockaddr: Any, pktinfo: bytes | None, mid: int,
               now: float | None = None) -> bool:
        """Whether a unicast request the lean GET path (``bridge.ocf.lean_path``) would
        answer is taken: True counts it as :meth:`dispatch` would. False counts and logs
        nothing: the caller hands the datagram to aiocoap, whose dispatch here refuses it.
        ``now``: the caller's reading of ``time.monotonic()``, if it has one (a window with
        a clock of its own reads that)."""
        if self.interfaces and not self._arrives_on_named(pktinfo):
            return False
        window = self.limits.requests
        if window is None:
            return True
        source = sockaddr[0] if len(sockaddr) < 4 or not sockaddr[3] else sockaddr
        host = _SOURCES.get(source)
        if host is None:
            if len(_SOURCES) >= SOURCES:
                _SOURCES.clear()
            host = _SOURCES[source] = sockaddr_host(sockaddr)
        # The window's key of a request: its source address, port and message id, in one
        # tuple (as _admitted makes it for aiocoap's path: the same request is one key).
        return window.take(host, (sockaddr[0], sockaddr[1], mid),
                           now if window.clock is time.monotonic else None) is None

    def _arrives_on_named(self, pktinfo: bytes | None) -> bool:
        """Whether ``pktinfo`` names an interface of ``ocf.interfaces`` (or loopback); the
        values taken are remembered per interface set (the last ``ARRIVALS``: a few local
        addresses and interfaces), so a repeated arrival costs one set look-up."""
        taken = _TAKEN.get(self.interfaces)
        if taken is not None and pktinfo in taken:
            return True
        ifname = self._names(pktinfo_index(pktinfo))
        if ifname not in self.interfaces and ifname != "lo":
            return False
        if taken is None:
            taken = _TAKEN[self.interfaces] = set()
        elif len(taken) >= ARRIVALS:
            taken.clear()
        if pktinfo is not None:
            taken.add(pktinfo)
        return True

    def _admitted(self, message: Any) -> bool:
        remote = message.remote
        refused = self.limits.refused
        host = client_host(remote)
        ifname = self._names(arrival_index(remote))
        if self.interfaces and ifname not in self.interfaces and ifname != "lo":
            refused.off_interface += 1
            self._report("interface", "%s: ignoring requests from %s that arrive on %s, which "
                         "is not in ocf.interfaces (%s)", self.what, host, ifname or "?",
                         ", ".join(sorted(self.interfaces)))
            return False
        multicast = arrival_index(remote) != 0 and remote.is_multicast_locally
        if multicast and not self._on_link(host, ifname, time.monotonic()):
            refused.off_link += 1
            self._report("off-link", "%s: not answering multicast from %s on %s: that source "
                         "is not on the link", self.what, host, ifname or "?")
            return False
        rate = self.limits.multicast
        if multicast and rate is not None and not rate.allow(host):
            refused.multicast_rate += 1
            self._report("rate", "%s: multicast requests from %s beyond %g per second are not "
                         "answered", self.what, host, rate.rate)
            return False
        window = self.limits.requests
        sockaddr = remote.sockaddr
        wait = (None if window is None
                else window.take(host, (sockaddr[0], sockaddr[1], message.mid)))
        if window is None or wait is None:
            return True
        refused.requests += 1
        self._report("requests", "%s: refusing requests from %s with 5.03: %d requests of "
                     "that address (or %d of all) in the last 247 s", self.what, host,
                     window.per_client, window.limit)
        if not multicast:
            self._refuse(message, retry_after(wait))
        return False

    def _refuse(self, request: Any, max_age: int) -> None:
        """5.03 with Max-Age, through the transport alone: no exchange state is kept."""
        reply = Message(code=Code.SERVICE_UNAVAILABLE, max_age=max_age,
                        payload=b"too many requests from this address; retry after Max-Age")
        reply.token = request.token
        if request.mtype is CON:
            reply.mtype, reply.mid = ACK, request.mid
        else:
            reply.mtype, reply.mid = NON, int.from_bytes(os.urandom(2), "big")
        reply.remote = request.remote.as_response_address()
        try:
            self._manager.message_interface.send(reply)
        except OSError as err:
            log.debug("%s: 5.03 to %s not sent: %s", self.what, client_host(request.remote),
                      err)

