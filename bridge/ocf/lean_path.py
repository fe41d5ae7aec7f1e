"""The lean GET path of a virtual OCF device: plain GETs answered before aiocoap sees them.

Layer: ``bridge.ocf`` I/O (the reader of the socket of aiocoap's UDP transport).
A GET of a virtual device's resource is the request clients send most, and aiocoap's
general message and exchange machinery costs several times what answering it does
(docs/design.md, "The lean GET path"). :class:`LeanGets` reads the socket in place of
aiocoap's transport (its reader on the socket, through the event loop's ``add_reader``) and
answers a datagram itself only when all of this holds; any other datagram goes on to
aiocoap's udp6 message interface unchanged (``datagram_msg_received``, as its transport
hands it on; the error queue's entries to ``datagram_errqueue_received``), with its full
behaviour (Block2, Observe, errors, POST, ``/oic/res``, multicast, ICMP errors):

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
a NON of its own message id for a NON. The reply is kept, from the options
on (what follows the token: options, payload marker, representation), keyed by the bytes of
the request's options, which are the same for every repeat of the same GET: a repeat costs
the header, one look-up, the admission, the duplicate record and the send. What is kept
lasts until the endpoint says the state changed (:meth:`LeanGets.forget`), or another device
replaces the endpoint's own. A repeated request (same source and message id within the
exchange lifetime, RFC 7252 section 4.5) gets the same answer again for a CON and nothing
for a NON, as aiocoap does.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiocoap.transports.udp6 import UDP6EndpointAddress
from aiocoap.util.socknumbers import HAS_RECVERR, MSG_ERRQUEUE

from bridge.ocf import wire
from bridge.ocf.admission import Admission, pktinfo_index
from bridge.ocf.aiocoap_overrides import LARGEST_UDP_PAYLOAD
from bridge.ocf.lean_compiled import CompiledPath, compiled_path, monotonic_window
from bridge.ocf.lean_get import ACK_CONTENT, GET, NON_CONTENT, GetParser, reply_tail
from bridge.ocf.limits import EXCHANGE_LIFETIME
from bridge.ocf.served import Request, ServedDevice, read

log = logging.getLogger("ocfaj.ocf.server")

#: The largest payload aiocoap sends in one datagram to a UDP peer (a block of 2**10 bytes,
#: its ``MAX_REGULAR_BLOCK_SIZE_EXP`` 6); a bigger representation goes block-wise (RFC 7959).
LARGEST_ANSWER = 1024
#: a kept answer's check that the origin must be read first (None: never).
Due = Callable[[], bool] | None
#: What the lean path keeps for the options of a GET: the resource's path, the reply from
#: the options on (None: aiocoap answers), the resource's read-due check and its
#: ``ServedResource.fresh_until`` (None: the compiled path keeps nothing of it).
Kept = tuple[str, bytes | None, Due, Callable[[], float] | None]
def _ALWAYS() -> float:
    """``fresh_until`` of a resource that never reads through."""
    return math.inf


#: Resources that are never answered here: ``/oic/res`` lists endpoints of the request's
#: address family and filters per query (``bridge.ocf.served.handle_res``).
NOT_LEAN = frozenset({"/oic/res"})
#: Datagrams read per wake-up of a busy socket at most (then the event loop runs others).
BATCH = 32
#: A quiet socket's wake-ups read once; every PROBE-th looks for a second datagram.
PROBE = 8
#: Room for the ancillary data of one datagram (its IPV6_PKTINFO), as aiocoap's transport reads.
ANCILLARY = 1024
#: Option sequences kept per endpoint (then it starts over): a device's resources and
#: interfaces, each in the few encodings clients use.
KEPT = 256
#: Seconds at least between two sweeps of the expired duplicate records (each look-up checks
#: the expiry itself, so a record counts exactly as long as the exchange lifetime).
SWEEP_EVERY = 1.0
#: A CON or NON (type bit 1 clear) of CoAP version 1, in the top bits of the first byte.
_VERSION_TYPE, _CON_OR_NON = 0xE0, 0x40
#: The type bits of a CON.
_TYPE = 0x30
#: The token of a CoAP message ends at most here (a header of 4 bytes, a token of 8).
_LONGEST_TOKEN_END = 12
#: ``::ffff:0:0/96``: the start of an IPv4 address as a dual-stack socket shows it.
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"
_IPV6, _PKTINFO = socket.IPPROTO_IPV6, socket.IPV6_PKTINFO

#: IPV6_PKTINFO values of unicast arrivals seen last (local address and interface: a few).
_UNICAST: set[bytes] = set()
#: Values remembered in ``_UNICAST`` (then it starts over).
ARRIVALS = 64

Key = tuple[Any, int]


class Holder(Protocol):
    """What holds the device an endpoint serves (``bridge.ocf.coap_server.CoapEndpoint``)."""

    own: ServedDevice | None
#: One parser for the lean paths of all endpoints: what it remembers depends only on the
#: bytes of a request's options, which repeat across the devices of one model.
_PARSER = GetParser()


def arrived_by_unicast(pktinfo: bytes) -> bool:
    """Whether a datagram with this IPV6_PKTINFO came by unicast (the lean receive paths
    answer or take only those)."""
    return pktinfo in _UNICAST or _unicast(pktinfo)


def _unicast(pktinfo: bytes) -> bool:
    """Whether ``pktinfo`` (a datagram's IPV6_PKTINFO) is of a unicast arrival: not to IPv6
    ff00::/8 nor to IPv4 224.0.0.0/4 as a v4-mapped address; remembered in ``_UNICAST``."""
    if len(pktinfo) < 16 or pktinfo[0] == 0xFF or (pktinfo[:12] == _V4_MAPPED
                                                   and 224 <= pktinfo[12] <= 239):
        return False
    if len(_UNICAST) >= ARRIVALS:
        _UNICAST.clear()
    _UNICAST.add(pktinfo)
    return True


class LeanGets:
    """The lean GET path in front of one endpoint's aiocoap message interface.

    ``holder.own`` is the device the endpoint serves now (an attribute, read per request
    without a call); ``admission`` is the endpoint's.
    :meth:`install` puts it in place once the endpoint's context is created.
    """

    # One per virtual OCF device: no instance dictionary each.
    __slots__ = ("_admission", "_admits", "_answered", "_busy", "_cached_for", "_clock",
                 "_compiled", "_fd", "_holder", "_interface", "_kept", "_manager",
                 "_max_payload", "_mid", "_monotonic", "_options", "_pass", "_path", "_quiet",
                 "_recent", "_recvmsg", "_sendmsg", "_sock", "_sweep_at", "_tags")

    def __init__(self, holder: Holder, admission: Admission,
                 options: bytes, *, max_payload: int,
                 clock: Callable[[], float] = time.monotonic, compiled: bool = False) -> None:
        self._holder = holder
        self._admission = admission
        #: whether to serve through the compiled path when it can (``ocf.lean_compiled``).
        self._compiled = compiled
        #: the compiled path serving the socket (None: this reads it, ``readable``).
        self._path: CompiledPath | None = None
        self._fd = -1
        #: a number per resource path, the compiled path's name for what it keeps of it.
        self._tags: dict[str, int] = {}
        #: the admission's check, bound once; whether ``clock`` is the one it reads.
        self._admits = admission.admits
        self._monotonic = clock is time.monotonic
        self._options = options
        self._max_payload = max_payload
        self._clock = clock
        #: the bytes after a GET's token -> what is kept for it (only for ``_cached_for``).
        self._kept: dict[bytes, Kept] = {}
        self._cached_for: ServedDevice | None = None
        #: (source, message id) -> (when it expires, the answer sent; None: a NON, which is
        #: not answered again), oldest first.
        self._recent: dict[Key, tuple[float, bytes | None]] = {}
        #: when the oldest record of ``_recent`` may be swept (inf: there is none).
        self._sweep_at = math.inf
        self._mid = int.from_bytes(os.urandom(2), "big")
        self._pass: Callable[[bytes, Any, int, Any], None] | None = None
        self._sock: socket.socket | None = None
        self._sendmsg: Callable[..., int] | None = None
        self._recvmsg: Callable[..., Any] | None = None
        #: the last wake-up of the reader found more than one datagram.
        self._busy = False
        #: wake-ups in a row that read one datagram and tried no second read.
        self._quiet = 0
        self._interface: Any = None
        self._manager: Any = None
        #: GETs answered by this path (repeats included).
        self._answered = 0

    @property
    def answered(self) -> int:
        """GETs answered before aiocoap (repeats included; by the compiled path too), for
        operators and tests."""
        path = self._path
        if path is None or path.handle is None:
            return self._answered
        return self._answered + path.answered(self._fd)

    @property
    def compiled(self) -> CompiledPath | None:
        """The compiled path that reads the socket, if one does (``bridge.ocf.lean_compiled``)."""
        return self._path

    def install(self, manager: Any) -> None:
        """Answer in front of ``manager``'s (aiocoap ``MessageManager``) udp6 interface."""
        interface = manager.message_interface
        self._manager = manager
        self._interface = interface
        sock = self._sock = interface.transport.get_extra_info("socket")
        self._sendmsg = sock.sendmsg
        self._recvmsg = sock.recvmsg
        self._pass = interface.datagram_msg_received
        # The socket's reader becomes this one (the event loop's public API on the socket
        # aiocoap's transport registered); the transport's close removes it as its own.
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock.fileno())
        path = compiled_path() if self._can_compile() else None
        if path is not None:
            try:
                path.add(sock, self, self._admission.limits.requests,  # type: ignore[arg-type]
                         restricted=bool(self._admission.interfaces))
            except OSError as err:
                log.warning("%s; the Python lean path reads its socket", err)
            else:
                self._path, self._fd = path, sock.fileno()
                return
        loop.add_reader(sock.fileno(), self.readable)

    def _can_compile(self) -> bool:
        """The compiled path counts requests as this path does only with every request cap on
        the monotonic clock in its window."""
        return (self._compiled and self._monotonic
                and monotonic_window(self._admission.limits.requests))

    def uninstall(self) -> None:
        """Before the socket closes: the compiled path lets go of it (this path's reader goes
        with the transport's close)."""
        path, self._path = self._path, None
        if path is not None:
            self._answered += path.answered(self._fd) if path.handle is not None else 0
            path.remove(self._fd)

    # What the compiled path hands back (bridge.ocf.lean_compiled.Receiver), in order.
    def datagram(self, data: bytes, ancdata: Any, flags: int, address: Any) -> None:
        try:
            done = self._serve(data, ancdata, address)
        except Exception:
            log.exception("lean GET path: a datagram from %s failed; aiocoap answers it",
                          address[0])
            done = False
        if not done:
            assert self._pass is not None
            self._pass(data, ancdata, flags, address)

    def errqueue(self, data: bytes, ancdata: Any, flags: int, address: Any) -> None:
        self._interface.datagram_errqueue_received(data, ancdata, flags, address)

    def read_error(self, err: OSError) -> None:
        self._interface.error_received(err)

    def send_error(self, err: OSError, address: Any, pktinfo: bytes) -> None:
        self._manager.dispatch_error(err, UDP6EndpointAddress(address, self._interface,
                                                              pktinfo=pktinfo))

    def forget(self, href: str | None = None) -> None:
        """The state behind ``href`` (None: any resource) changed: drop what was kept."""
        if href is None:
            self._kept.clear()
            if self._path is not None:
                self._path.forget(self._fd)
            return
        kept = self._kept
        for options in [options for options, (path, *_) in kept.items() if path == href]:
            del kept[options]
        tag = self._tags.get(href)
        if self._path is not None and tag is not None:
            self._path.forget(self._fd, tag)

    def readable(self) -> None:
        """The socket's reader (in place of aiocoap's transport's): read the waiting
        datagrams, answer those the lean path takes and hand every other one to aiocoap's
        message interface as its transport would, in the order they came.

        A quiet socket (the last wake-up found one datagram) is read once per wake-up: the
        read that would find nothing costs as much as the answer. Every ``PROBE``-th
        wake-up reads on, and one that finds a second datagram reads up to ``BATCH`` per
        wake-up from then on, until a wake-up finds only one again. The error queue
        (ICMP errors, ``IPV6_RECVERR``) is read only when it may hold something: when a
        wake-up found no datagram (the socket woke for its error), when a read failed (a
        pending ICMP error fails the next read), and after a full batch."""
        recvmsg, serve, hand_on = self._recvmsg, self._serve, self._pass
        assert recvmsg is not None and hand_on is not None
        reads = BATCH if self._busy else (2 if self._quiet >= PROBE else 1)
        count = 0
        while count < reads:
            try:
                data, ancdata, flags, address = recvmsg(LARGEST_UDP_PAYLOAD, ANCILLARY)
            except (BlockingIOError, InterruptedError):
                if not count:
                    self._read_errors()
                break
            except OSError as err:
                # What aiocoap's transport does with an error a read returns.
                self._interface.error_received(err)
                self._read_errors()
                break
            count += 1
            try:
                done = serve(data, ancdata, address)
            except Exception:
                log.exception("lean GET path: a datagram from %s failed; aiocoap answers it",
                              address[0])
                done = False
            if not done:
                # To aiocoap's message interface unchanged, as its transport hands it on.
                hand_on(data, ancdata, flags, address)
        if count == BATCH:
            self._read_errors()  # a full batch: errors may wait behind the datagrams
        self._busy = count > 1
        self._quiet = 0 if count != 1 or reads != 1 else self._quiet + 1

    def _read_errors(self) -> None:
        """Hand what the socket's error queue holds to aiocoap's message interface, as its
        transport does (``datagram_errqueue_received``: that peer's exchanges end)."""
        if not HAS_RECVERR:
            return
        assert self._sock is not None
        for _ in range(BATCH):
            try:
                data, ancdata, flags, address = self._sock.recvmsg(
                    LARGEST_UDP_PAYLOAD, ANCILLARY, MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                self._interface.error_received(err)
                return
            self._interface.datagram_errqueue_received(data, ancdata, flags, address)

    def _serve(self, data: bytes, ancdata: Any, address: Any) -> bool:
        """Answer one datagram here (True), or leave it to aiocoap (False)."""
        # The header (RFC 7252 section 3) as bridge.ocf.lean_get reads it: version 1, a CON
        # or a NON, code 0.01, a token of at most 8 bytes; the options are read once per
        # distinct sequence (GetParser) and then found by their bytes.
        size = len(data)
        if size < 4 or data[1] != GET:
            return False
        first = data[0]
        end = 4 + (first & 0x0F)
        if first & _VERSION_TYPE != _CON_OR_NON or end > _LONGEST_TOKEN_END or end > size:
            return False
        options = data[end:]
        kept = self._kept.get(options)
        if kept is None:
            target = _PARSER.target(options)
            if target is None or target[0] in NOT_LEAN:
                return False
        # aiocoap's socket asks for IPV6_PKTINFO alone: one item, as its transport expects.
        if len(ancdata) != 1:
            return False
        level, kind, pktinfo = ancdata[0]
        if (level != _IPV6 or kind != _PKTINFO
                or (pktinfo not in _UNICAST and not _unicast(pktinfo))):
            return False
        mid = (data[2] << 8) | data[3]
        now = self._clock()
        if not self._admits(address, pktinfo, mid, now if self._monotonic else None):
            # aiocoap's dispatch runs the admission again and sends its refusal.
            return False
        if now >= self._sweep_at:
            self._sweep(now)
        key = (address, mid)
        recent = self._recent
        seen = recent.get(key)
        if seen is not None:
            if seen[0] > now:
                if seen[1] is not None:
                    self._send(seen[1], ancdata, address)
                self._answered += 1
                return True
            # Expired, not swept yet: a new request (recorded again at the end, in order).
            del recent[key]
        device = self._holder.own
        if device is not self._cached_for:
            self._kept.clear()
            if self._path is not None:
                self._path.forget(self._fd)
            self._cached_for = device
            kept = None
        if device is None:
            return False
        if kept is None:
            kept = self._keep(options, device)
        tail, due = kept[1], kept[2]
        # The origin may have changed without telling (read_due): then aiocoap's path
        # answers, reading through first.
        if tail is None or (due is not None and due()):
            return False
        until = kept[3]
        if self._path is not None and until is not None:
            # The compiled path answers the next ones itself while no read of the origin is
            # due (a resource that reads through: until its last read is read_cache old),
            # arriving where this one arrived (ocf.interfaces: admitted by name here).
            self._path.keep(self._fd, options, tail,
                            self._tags.setdefault(kept[0], len(self._tags)), until())
            if self._admission.interfaces:
                self._path.allow(self._fd, pktinfo_index(pktinfo))
        expires = now + EXCHANGE_LIFETIME
        if first & _TYPE:
            self._mid = reply_mid = (self._mid + 1) & 0xFFFF
            reply = (NON_CONTENT[end - 4] + reply_mid.to_bytes(2, "big") + data[4:end]
                     + tail)
            recent[key] = (expires, None)
        else:
            # Piggybacked on the ACK: the request's message id and token, as they came.
            reply = ACK_CONTENT[end - 4] + data[2:end] + tail
            recent[key] = (expires, reply)
        if self._sweep_at == math.inf:
            self._sweep_at = expires
        self._answered += 1
        if self._path is not None:
            self._path.remember(self._fd, address, mid, recent[key][1])
        sendmsg = self._sendmsg
        assert sendmsg is not None
        try:
            sendmsg((reply,), ancdata, 0, address)
        except OSError as err:
            self._send_failed(err, reply, ancdata, address)
        return True

    def _sweep(self, now: float) -> None:
        """Drop the duplicate records expired by ``now``, oldest first."""
        recent = self._recent
        expired = []
        for key, (expires, _) in recent.items():
            if expires > now:
                self._sweep_at = max(expires, now + SWEEP_EVERY)
                break
            expired.append(key)
        else:
            self._sweep_at = math.inf
        for key in expired:
            del recent[key]

    def _keep(self, options: bytes, device: ServedDevice) -> Kept:
        """What to keep for a GET with ``options`` (parsed before) of ``device``'s resource."""
        target = _PARSER.target(options)
        assert target is not None
        path, query = target
        kept: Kept = (path, None, None, None)
        resource = device.find(path)
        if resource is None:
            return kept
        if query and not (len(query) == 1 and query[0].startswith("if=")
                          and query[0][3:] in resource.ifs):
            # Other queries are left to aiocoap: what is kept stays bounded by the
            # device's resources and interfaces.
            return kept
        due: Due = None
        until: Callable[[], float] | None = _ALWAYS
        if resource.refresh is not None:
            due = resource.reads_through
            if due is None or due():
                return kept
            until = resource.fresh_until
        reply = read(device, Request("GET", path, query, accept=wire.CF_OCF_CBOR,
                                     accept_version=wire.OCF_1_0,
                                     max_payload=self._max_payload))
        if reply.code == 205 and reply.body is not None:
            payload = wire.encode(reply.body)
            if len(payload) <= LARGEST_ANSWER:
                kept = (path, reply_tail(self._options, payload), due, until)
        if len(self._kept) >= KEPT:
            self._kept.clear()
        self._kept[options] = kept
        return kept

    def _send(self, reply: bytes, ancdata: Any, address: Any) -> None:
        """Send ``reply`` from the address and interface the request came to (its
        IPV6_PKTINFO: ``ancdata`` as received)."""
        assert self._sendmsg is not None
        try:
            self._sendmsg((reply,), ancdata, 0, address)
        except OSError as err:
            self._send_failed(err, reply, ancdata, address)

    def _send_failed(self, err: OSError, reply: bytes, ancdata: Any, address: Any) -> None:
        """A send failed with ``err``: as aiocoap sends, once more (the failed attempt
        consumed another peer's pending ICMP error); a full socket buffer loses the datagram
        like any the kernel cannot take."""
        assert self._sendmsg is not None
        if isinstance(err, BlockingIOError):
            log.debug("socket buffer full: a datagram to %s lost", address[0])
            return
        try:
            self._sendmsg((reply,), ancdata, 0, address)
        except BlockingIOError:
            log.debug("socket buffer full: a datagram to %s lost", address[0])
        except OSError as again:
            # As aiocoap does for a send that fails: that remote's exchanges end.
            self._manager.dispatch_error(again, UDP6EndpointAddress(
                address, self._interface, pktinfo=ancdata[0][2]))
