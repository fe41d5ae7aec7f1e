"""The lean GET path of a virtual OCF device: plain GETs answered before aiocoap sees them.

Layer: ``bridge.ocf`` I/O (the datagram callback of aiocoap's UDP transport, one socket).
A GET of a virtual device's resource is the request clients send most, and aiocoap's
general message and exchange machinery costs several times what answering it does
(docs/design.md, "The lean GET path"). :class:`LeanGets` sits where aiocoap's transport
hands each received datagram to its message layer (``datagram_msg_received`` of the udp6
message interface; aiocoap has no public hook there) and answers a datagram itself only
when all of this holds; any other datagram goes on to aiocoap unchanged, with its full
behaviour (Block2, Observe, errors, POST, ``/oic/res``, multicast):

- it is a GET ``bridge.ocf.lean_get`` accepts (CON or NON, no payload, only Uri-Path,
  Uri-Query, Accept 10000 and an OCF version of 1.0.0 or later);
- it arrived by unicast and :meth:`~bridge.ocf.admission.Admission.admits` takes it (the
  interfaces of ``ocf.interfaces`` and the request caps apply as on aiocoap's path);
- it names a resource of the device, with no query or one ``if=`` of an interface the
  resource offers, that needs no read-through to the origin now;
- the OCF rules (``bridge.ocf.served.read``) answer it 2.05 with a representation that
  fits one datagram without Block2 (aiocoap's block size, 1,024 bytes).

The answer is the same bytes aiocoap would send: the same options (Content-Format 10000,
OCF-Content-Format-Version 2048), the request's token, piggybacked on the ACK of a CON,
a NON of its own message id for a NON. The encoded representation is kept per resource and
query until the endpoint says the state changed (:meth:`LeanGets.forget`), or another
device replaces the endpoint's own. A repeated request (same source and message id within
the exchange lifetime, RFC 7252 section 4.5) gets the same answer again for a CON and
nothing for a NON, as aiocoap does.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiocoap.transports.udp6 import UDP6EndpointAddress

from bridge.ocf import wire
from bridge.ocf.admission import Admission
from bridge.ocf.aiocoap_overrides import LARGEST_UDP_PAYLOAD, send_datagram
from bridge.ocf.lean_get import CON, GetParser, LeanGet, answer
from bridge.ocf.limits import EXCHANGE_LIFETIME
from bridge.ocf.served import Request, ServedDevice, read

log = logging.getLogger("ocfaj.ocf.server")

#: The largest payload aiocoap sends in one datagram to a UDP peer (a block of 2**10 bytes,
#: its ``MAX_REGULAR_BLOCK_SIZE_EXP`` 6); a bigger representation goes block-wise (RFC 7959).
LARGEST_ANSWER = 1024
#: a cached answer's check that the origin must be read first (None: never).
Due = Callable[[], bool] | None
#: Resources that are never answered here: ``/oic/res`` lists endpoints of the request's
#: address family and filters per query (``bridge.ocf.served.handle_res``).
NOT_LEAN = frozenset({"/oic/res"})
#: Datagrams read at once after one the lean path answered (then the event loop runs others).
BATCH = 32
#: Room for the ancillary data of one datagram (its IPV6_PKTINFO), as aiocoap's transport reads.
ANCILLARY = 1024

Key = tuple[Any, int]
#: One parser for the lean paths of all endpoints: what it remembers depends only on the
#: bytes of a request's options, which repeat across the devices of one model.
_PARSER = GetParser()


def is_multicast(pktinfo: bytes) -> bool:
    """Whether a datagram's ``IPV6_PKTINFO`` names a multicast destination (IPv6 ff00::/8,
    or IPv4 224.0.0.0/4 as a v4-mapped address)."""
    if pktinfo[0] == 0xFF:
        return True
    return pktinfo[:12] == b"\0" * 10 + b"\xff\xff" and 224 <= pktinfo[12] <= 239


class LeanGets:
    """The lean GET path in front of one endpoint's aiocoap message interface.

    ``own`` returns the device the endpoint serves now; ``admission`` is the endpoint's.
    :meth:`install` puts it in place once the endpoint's context is created.
    """

    # One per virtual OCF device: no instance dictionary each.
    __slots__ = ("_admission", "_cache", "_cached_for", "_clock", "_expiry", "_interface",
                 "_manager", "_max_payload", "_mid", "_options", "_own", "_parse", "_pass",
                 "_recent", "_sock", "answered")

    def __init__(self, own: Callable[[], ServedDevice | None], admission: Admission,
                 options: bytes, *, max_payload: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._own = own
        self._admission = admission
        self._options = options
        self._max_payload = max_payload
        self._clock = clock
        #: href -> query -> the encoded representation (None: aiocoap answers).
        #: path -> query -> (encoded answer or None, the resource's read-due check).
        self._cache: dict[str, dict[tuple[str, ...], tuple[bytes | None, Due]]] = {}
        self._cached_for: ServedDevice | None = None
        #: (source, message id) -> the answer sent (None: a NON, which is not answered again).
        self._recent: dict[Key, bytes | None] = {}
        #: (when it expires, key) of ``_recent``, oldest first; None until the first answer
        #: (most virtual devices are never asked a GET: no queue each).
        self._expiry: deque[tuple[float, Key]] | None = None
        self._mid = int.from_bytes(os.urandom(2), "big")
        self._parse = _PARSER
        self._pass: Callable[[bytes, Any, int, Any], None] | None = None
        self._sock: socket.socket | None = None
        self._interface: Any = None
        self._manager: Any = None
        #: GETs answered here (repeats included), for operators and tests.
        self.answered = 0

    def install(self, manager: Any) -> None:
        """Answer in front of ``manager``'s (aiocoap ``MessageManager``) udp6 interface."""
        interface = manager.message_interface
        self._manager = manager
        self._interface = interface
        self._sock = interface.transport.get_extra_info("socket")
        self._pass = interface.datagram_msg_received
        interface.datagram_msg_received = self.received

    def forget(self, href: str | None = None) -> None:
        """The state behind ``href`` (None: any resource) changed: drop what was cached."""
        if href is None:
            self._cache.clear()
        else:
            self._cache.pop(href, None)

    def received(self, data: bytes, ancdata: Any, flags: int, address: Any) -> None:
        """aiocoap's transport's callback for each datagram it reads: answer it, or pass it
        on. After an answer, the datagrams already waiting are read here too (up to
        ``BATCH``), so that a busy socket costs one event loop round per batch, not per
        datagram; aiocoap's next read still looks at the socket's error queue first."""
        if not self._one(data, ancdata, flags, address):
            return
        assert self._sock is not None
        for _ in range(BATCH - 1):
            try:
                data, ancdata, flags, address = self._sock.recvmsg(LARGEST_UDP_PAYLOAD,
                                                                   ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                # What aiocoap's transport does with an error a read returns.
                self._interface.error_received(err)
                return
            self._one(data, ancdata, flags, address)

    def _one(self, data: bytes, ancdata: Any, flags: int, address: Any) -> bool:
        """One datagram: True when answered here, else handed to aiocoap."""
        assert self._pass is not None
        try:
            done = self._serve(data, ancdata, address)
        except Exception:
            log.exception("lean GET path: a datagram from %s failed; aiocoap answers it",
                          address[0])
            done = False
        if not done:
            self._pass(data, ancdata, flags, address)
        return done

    def _serve(self, data: bytes, ancdata: Any, address: Any) -> bool:
        request = self._parse(data)
        if request is None or request.path in NOT_LEAN:
            return False
        # aiocoap's socket asks for IPV6_PKTINFO alone: one item, as its transport expects.
        if len(ancdata) != 1:
            return False
        level, kind, pktinfo = ancdata[0]
        if (level != socket.IPPROTO_IPV6 or kind != socket.IPV6_PKTINFO or len(pktinfo) < 16
                or is_multicast(pktinfo)):
            return False
        if not self._admission.admits(address, pktinfo, request.mid):
            # aiocoap's dispatch runs the admission again and sends its refusal.
            return False
        key = (address[:-1], request.mid)
        now = self._clock()
        expiry = self._expiry
        if expiry is None:
            expiry = self._expiry = deque()
        while expiry and expiry[0][0] <= now:
            self._recent.pop(expiry.popleft()[1], None)
        if key in self._recent:
            again = self._recent[key]
            if again is not None:
                self._send(again, pktinfo, address)
            self.answered += 1
            return True
        payload = self._representation(request)
        if payload is None:
            return False
        self._mid = (self._mid + 1) & 0xFFFF
        reply = answer(request, self._mid, self._options, payload)
        self._recent[key] = reply if request.mtype == CON else None
        expiry.append((now + EXCHANGE_LIFETIME, key))
        self._send(reply, pktinfo, address)
        self.answered += 1
        return True

    def _representation(self, request: LeanGet) -> bytes | None:
        device = self._own()
        if device is None:
            return None
        if device is not self._cached_for:
            self._cache.clear()
            self._cached_for = device
        by_query = self._cache.get(request.path)
        if by_query is not None and request.query in by_query:
            kept, check = by_query[request.query]
            # The origin may have changed without telling (read_due): then aiocoap's path
            # answers, reading through first.
            return None if check is not None and check() else kept
        resource = device.find(request.path)
        if resource is None:
            return None
        if request.query and not (len(request.query) == 1
                                  and request.query[0].startswith("if=")
                                  and request.query[0][3:] in resource.ifs):
            # Other queries are left to aiocoap: what is cached stays bounded by the
            # device's resources and interfaces.
            return None
        due: Due = None
        if resource.refresh is not None:
            due = resource.reads_through
            if due is None or due():
                return None
        reply = read(device, Request("GET", request.path, request.query,
                                     accept=wire.CF_OCF_CBOR, accept_version=wire.OCF_1_0,
                                     max_payload=self._max_payload))
        payload: bytes | None = None
        if reply.code == 205 and reply.body is not None:
            payload = wire.encode(reply.body)
            if len(payload) > LARGEST_ANSWER:
                payload = None
        self._cache.setdefault(request.path, {})[request.query] = (payload, due)
        return payload

    def _send(self, reply: bytes, pktinfo: bytes, address: Any) -> None:
        assert self._sock is not None
        ancdata = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, pktinfo)]
        err = send_datagram(self._sock, reply, ancdata, address)
        if err is not None:
            # As aiocoap does for a send that fails: that remote's exchanges end.
            self._manager.dispatch_error(err, UDP6EndpointAddress(
                address, self._interface, pktinfo=pktinfo))
