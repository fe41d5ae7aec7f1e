"""The lean receive path of the OCF client: notifications of established observations.

Layer: ``bridge.ocf`` I/O (the datagram callback of aiocoap's UDP transport, the OCF client's
one socket). Each notification of an observed resource went through aiocoap's message
decoding, message and token layers and the observation's iterator (a future and a task step
each) before the gateway decoded its payload: the largest share of the OCF side's CPU per
notification (docs/design.md, "The lean notification path"). :class:`LeanNotifications` sits
where aiocoap's transport hands each received datagram to its message layer
(``datagram_msg_received`` of the udp6 message interface; aiocoap has no public hook there)
and takes a datagram itself only when all of this holds; any other datagram goes on to
aiocoap unchanged (the first answer, error codes, Block2, unknown tokens, empty messages,
deregistration answers, multicast):

- ``bridge.ocf.notice_frames`` reads it as a plain notification (CON or NON 2.05, Observe,
  Content-Format 10000, the payload in this datagram) within the client's ``max_payload``;
- its token and source are those of an observation the client follows (:meth:`follow`, once
  aiocoap has matched the registration's first answer) and its payload decodes.

Such a notification is acknowledged when it is confirmable (an empty ACK of its message id,
RFC 7252 section 4.2), taken once per source and message id within the exchange lifetime
(section 4.5: a repeated CON is acknowledged again, a repeated NON ignored) and handed to the
observation's callback only when it is newer than the freshest one so far (RFC 7641 section
3.4: :meth:`Followed.accept`); a reordered one is acknowledged and dropped. The lifecycle
of the observation (registration, its end, deregistration) stays aiocoap's and
``bridge.ocf.coap_client``'s.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiocoap.transports.udp6 import UDP6EndpointAddress

from bridge.ocf import wire
from bridge.ocf.aiocoap_overrides import LARGEST_UDP_PAYLOAD, send_datagram
from bridge.ocf.coap_messages import empty_ack
from bridge.ocf.lean_path import ANCILLARY, BATCH, arrived_by_unicast
from bridge.ocf.limits import EXCHANGE_LIFETIME
from bridge.ocf.notice_frames import CON, parse_notice

log = logging.getLogger("ocfaj.ocf.client")

#: RFC 7641 section 3.4: sequence numbers are compared within a window of 2**23 ...
_WINDOW = 1 << 23
#: ... unless the freshest notification so far is older than 128 seconds.
OBSERVE_RESET = 128.0
#: Sources and message ids remembered for duplicates (then the oldest are forgotten early:
#: a repeat older than that is still dropped by the Observe order of :meth:`Followed.accept`).
RECENT_KEPT = 4096

Recent = tuple[str, int, int]
_IPV6, _PKTINFO = socket.IPPROTO_IPV6, socket.IPV6_PKTINFO


class Followed:
    """One observation whose notifications the lean path takes.

    ``deliver`` gets each fresh notification's decoded payload; ``observe`` is the sequence
    number of the freshest notification so far (the registration's answer first), ``since``
    when it arrived. Both paths of the observation, this one and aiocoap's, check their
    notifications with :meth:`accept`, so the order holds whichever took the last one.
    """

    __slots__ = ("deliver", "key", "observe", "since", "where")

    def __init__(self, key: tuple[bytes, str, int], deliver: Callable[[Any], None],
                 observe: int, since: float, where: str) -> None:
        self.key = key
        self.deliver = deliver
        self.observe = observe
        self.since = since
        #: the resource's URI, for log lines.
        self.where = where

    def fresh(self, observe: int, now: float) -> bool:
        """Whether notification ``observe`` arriving at ``now`` is newer (RFC 7641 3.4)."""
        v1 = self.observe
        return ((v1 < observe and observe - v1 < _WINDOW)
                or (v1 > observe and v1 - observe > _WINDOW)
                or now > self.since + OBSERVE_RESET)

    def accept(self, observe: int, now: float) -> bool:
        """:meth:`fresh`, and then ``observe`` is the freshest."""
        if not self.fresh(observe, now):
            return False
        self.observe = observe
        self.since = now
        return True


class LeanNotifications:
    """The lean notification path in front of one aiocoap client context's udp6 interface.

    :meth:`install` puts it in place once the context is created; :meth:`follow` and
    :meth:`unfollow` bracket each established observation.
    """

    def __init__(self, max_payload: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_payload = max_payload
        self._clock = clock
        #: (token, source host, source port) -> the observation.
        self._followed: dict[tuple[bytes, str, int], Followed] = {}
        #: (source host, port, message id) of the datagrams taken, and their expiry, oldest
        #: first.
        self._recent: set[Recent] = set()
        self._expiry: deque[tuple[float, Recent]] = deque()
        self._pass: Callable[[bytes, Any, int, Any], None] | None = None
        self._sock: socket.socket | None = None
        self._interface: Any = None
        self._manager: Any = None
        #: notifications handed to their observation here; repeats acknowledged or ignored;
        #: reordered ones dropped (for operators and tests).
        self.taken = 0
        self.repeated = 0
        self.reordered = 0

    @property
    def installed(self) -> bool:
        return self._pass is not None

    def install(self, manager: Any) -> bool:
        """Take notifications in front of ``manager``'s (aiocoap ``MessageManager``) udp6
        interface; False (and aiocoap takes every datagram) when this aiocoap lacks it."""
        interface: Any = getattr(manager, "message_interface", None)
        transport = getattr(interface, "transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        receive = getattr(interface, "datagram_msg_received", None)
        if sock is None or not callable(receive):
            log.info("this aiocoap has no udp6 datagram callback: every notification takes "
                     "aiocoap's receive path")
            return False
        self._manager = manager
        self._interface = interface
        self._sock = sock
        self._pass = receive
        interface.datagram_msg_received = self.received
        return True

    def follow(self, token: bytes, sockaddr: Any, observe: int, deliver: Callable[[Any], None],
               where: str) -> Followed:
        """Take the notifications of the observation on ``token`` from ``sockaddr`` (the
        source of its first answer, sequence number ``observe``) from now on."""
        key = (bytes(token), str(sockaddr[0]), int(sockaddr[1]))
        followed = Followed(key, deliver, observe, self._clock(), where)
        self._followed[key] = followed
        return followed

    def unfollow(self, followed: Followed) -> None:
        """Leave the observation's datagrams to aiocoap again (it ended, or is cancelled)."""
        if self._followed.get(followed.key) is followed:
            del self._followed[followed.key]

    def now(self) -> float:
        return self._clock()

    def received(self, data: bytes, ancdata: Any, flags: int, address: Any) -> None:
        """aiocoap's transport's callback for each datagram it reads: take it, or pass it
        on. After one taken here, the datagrams already waiting are read here too (up to
        ``BATCH``), so that a stream of notifications costs one event loop round per batch;
        aiocoap's next read still looks at the socket's error queue first."""
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
        """One datagram: True when taken here, else handed to aiocoap."""
        assert self._pass is not None
        try:
            done = self._take(data, ancdata, address)
        except Exception:
            log.exception("lean notification path: a datagram from %s failed; aiocoap "
                          "receives it", address[0])
            done = False
        if not done:
            self._pass(data, ancdata, flags, address)
        return done

    def _take(self, data: bytes, ancdata: Any, address: Any) -> bool:
        if not self._followed:
            return False
        notice = parse_notice(data)
        if notice is None or len(notice.payload) > self._max_payload:
            return False
        followed = self._followed.get((notice.token, address[0], address[1]))
        if followed is None:
            return False
        # aiocoap's socket asks for IPV6_PKTINFO alone: one item, as its transport expects.
        if len(ancdata) != 1:
            return False
        level, kind, pktinfo = ancdata[0]
        if level != _IPV6 or kind != _PKTINFO or not arrived_by_unicast(pktinfo):
            return False
        now = self._clock()
        recent = (address[0], address[1], notice.mid)
        expiry = self._expiry
        while expiry and (expiry[0][0] <= now or len(expiry) > RECENT_KEPT):
            self._recent.discard(expiry.popleft()[1])
        confirmable = notice.mtype == CON
        if recent in self._recent:
            self.repeated += 1
            if confirmable:
                self._ack(notice.mid, pktinfo, address)
            return True
        fresh = followed.fresh(notice.observe, now)
        value: Any = None
        if fresh:
            try:
                value = wire.decode(notice.payload)
            except wire.PayloadError:
                return False  # aiocoap's path reports it, as for any undecodable answer
            # What Followed.accept does once fresh() said yes.
            followed.observe = notice.observe
            followed.since = now
        else:
            self.reordered += 1
            log.debug("OCF %s: notification %d is older than %d, dropped (RFC 7641 3.4)",
                      followed.where, notice.observe, followed.observe)
        self._recent.add(recent)
        expiry.append((now + EXCHANGE_LIFETIME, recent))
        if confirmable:
            self._ack(notice.mid, pktinfo, address)
        if fresh:
            self.taken += 1
            try:
                followed.deliver(value)
            except Exception:
                log.exception("OCF %s: a notification could not be applied", followed.where)
        return True

    def _ack(self, mid: int, pktinfo: bytes, address: Any) -> None:
        assert self._sock is not None
        ancdata = [(_IPV6, _PKTINFO, pktinfo)]
        err = send_datagram(self._sock, empty_ack(mid), ancdata, address)
        if err is not None:
            # As aiocoap does for a send that fails: that remote's exchanges end.
            self._manager.dispatch_error(err, UDP6EndpointAddress(
                address, self._interface, pktinfo=pktinfo))
