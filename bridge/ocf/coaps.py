"""CoAP over DTLS (``coaps://``, RFC 7252 section 9) as an aiocoap message interface.

Layer: ``bridge.ocf`` I/O (one UDP socket, aiocoap's ``MessageInterface`` seam, DTLS sessions
of ``bridge.ocf.dtls``). aiocoap's message and token layers sit on top unchanged, so CON
retransmission, observe, Block2 and timeouts behave exactly as over plain CoAP; this module
only turns CoAP datagrams into DTLS records and back, one session per peer address.

aiocoap's own DTLS transport (tinydtls) cannot be used: tinydtls lacks OCF's
ECDHE-PSK suite (0xC037) and picks no key from the server's identity hint.

Sessions:

- A client session starts on the first message for a ``coaps://`` address, queues messages
  until the handshake ends, and is reused for every later exchange with that address.
- Lost sessions are re-established: a peer that sends nothing back for ``lost_after`` seconds
  while messages wait for it (aiocoap is retransmitting) gets a new handshake, which the
  retransmitted message then rides; a ClientHello from a known address (the client
  restarted) replaces the server's old session.
- At most ``max_sessions`` at once; a new one first pushes out the oldest unfinished
  handshake, only then the least recently used session. At most ``max_handshakes`` of the
  handshakes peers began unfinished (the oldest is dropped for a new one), so peers that stop
  half way never push out the established sessions of everyone else. The client's own
  handshakes are bounded the same, but wait for a free slot instead of being dropped: a
  gateway that reaches a hundred owned devices at once establishes their sessions
  ``max_handshakes`` at a time, and the messages wait in each session's queue meanwhile. A
  handshake must end within ``handshake_timeout`` once begun; a session idle for
  ``idle_timeout`` is closed with close_notify.
- A server keeps no state for a ClientHello until the client has returned the cookie of
  its HelloVerifyRequest (RFC 6347 4.2.1): one listening DTLS object answers every unknown
  address and becomes the session of the first that proves its address. A flood of
  ClientHellos from many ports therefore costs HelloVerifyRequests, no memory; a known peer's
  session is replaced by a new ClientHello only once that hello carries a valid cookie.

Connecting to a context with aiocoap's private ``Context._append_tokenmanaged_messagemanaged_
transport`` (aiocoap 0.4.x; aiocoap has no public way to add a transport of one's own) happens
only in :func:`attach`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aiocoap import error, interfaces
from aiocoap.message import Message
from aiocoap.numbers import COAPS_PORT
from aiocoap.util import hostportjoin, hostportsplit

from bridge.core.errors import SecurityError
from bridge.ocf.dtls import DtlsSession
from bridge.ocf.peer_log import PeerLogLimit

log = logging.getLogger("ocfaj.ocf.coaps")

Address = tuple[str, int]

#: Largest datagram read: one DTLS record (RFC 6347 4.1: a 13-byte header and at most
#: 2^14 + 2048 bytes of ciphertext). Larger ones are dropped before the DTLS library.
MAX_DATAGRAM = 13 + 2 ** 14 + 2048


class DtlsFailed(error.NetworkError):  # type: ignore[misc]
    """A DTLS session with the peer failed or was refused; aiocoap hands it to every request
    that was waiting for that peer."""

    def __str__(self) -> str:
        return " ".join(str(arg) for arg in self.args)


@dataclass(frozen=True)
class SessionLimits:
    """Bounds of the sessions of one interface (docs/security.md, "Sessions")."""

    #: sessions open at once; the least recently used one is closed for a new one.
    max_sessions: int = 64
    #: of those, handshakes not finished yet; the oldest is dropped for a new one.
    max_handshakes: int = 16
    #: seconds a handshake may take (OCF devices use 1 to 20 s).
    handshake_timeout: float = 20.0
    #: seconds without traffic after which a session is closed.
    idle_timeout: float = 1800.0
    #: seconds of silence, while messages wait, after which the session counts as lost.
    lost_after: float = 5.0


class CoapsRemote(interfaces.EndpointAddress):  # type: ignore[misc]
    """One peer of a :class:`CoapsInterface`; the same object for the same address."""

    scheme = "coaps"
    is_multicast = False
    is_multicast_locally = False

    def __init__(self, interface: CoapsInterface, address: Address) -> None:
        self._interface = interface
        self.address = address

    @property
    def hostinfo(self) -> str:
        host, port = self.address
        return str(hostportjoin(_plain(host), None if port == COAPS_PORT else port))

    @property
    def hostinfo_local(self) -> str:
        host, port = self._interface.local_address
        return str(hostportjoin(_plain(host), port))

    @property
    def uri_base(self) -> str:
        return "coaps://" + self.hostinfo

    @property
    def uri_base_local(self) -> str:
        return "coaps://" + self.hostinfo_local

    @property
    def blockwise_key(self) -> Any:
        return self.address

    @property
    def sockaddr(self) -> Address:
        """The peer's socket address, under the name aiocoap's UDP remotes give it (the caps
        per client address and the ``eps`` of answers read it)."""
        return self.address

    @property
    def identity(self) -> bytes:
        """The peer's PSK identity (as a server sees it) or hint (as a client sees it)."""
        return self._interface.identity_of(self.address)

    @property
    def cipher(self) -> str:
        """The OpenSSL name of the session's cipher suite ("" without a session)."""
        return self._interface.cipher_of(self.address)

    @property
    def authenticated_claims(self) -> list[bytes]:
        identity = self.identity
        return [identity] if identity else []

    def __repr__(self) -> str:
        return f"<CoapsRemote {self.hostinfo}>"


def _plain(host: str) -> str:
    return host[7:] if host.startswith("::ffff:") else host


def _numeric(host: str, port: int, family: int) -> Address | None:
    """The socket address of ``host`` when it is an IP address without a zone, spelt as
    the socket spells a peer's (IPv4 mapped on an IPv6 socket); None sends it to the
    resolver. Every request names its host again, and the gateway's devices are named by
    address: a resolver call for each, in a thread, is time a request need not wait."""
    if "%" in host:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if family == socket.AF_INET6:
        v4 = ip if isinstance(ip, ipaddress.IPv4Address) else ip.ipv4_mapped
        return (f"::ffff:{v4}" if v4 is not None else str(ip), port)
    return (str(ip), port) if ip.version == 4 else None


@dataclass
class _Peer:
    session: DtlsSession
    started: float
    last_seen: float
    queue: list[bytes] = field(default_factory=list)
    waiting_since: float | None = None
    timer: asyncio.TimerHandle | None = None
    #: a client session whose handshake waits for a slot (``max_handshakes`` under way).
    held: bool = False
    #: resolved when the handshake ends (``CoapsInterface.session_with`` waits on it).
    ready: asyncio.Future[None] | None = None


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: CoapsInterface) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner.datagram_received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("coaps socket error: %s", exc)


class CoapsInterface(interfaces.MessageInterface):  # type: ignore[misc]
    """coaps for one aiocoap context: a client (``client_context``), a server
    (``server_context``), or both. Contexts come from ``bridge.ocf.dtls``."""

    def __init__(self, mman: Any, *, client_context: Any = None, server_context: Any = None,
                 limits: SessionLimits | None = None) -> None:
        self._mman = mman
        self._client_context = client_context
        self._server_context = server_context
        self.limits = limits or SessionLimits()
        self._peers: OrderedDict[Address, _Peer] = OrderedDict()
        self._remotes: dict[Address, CoapsRemote] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._family = socket.AF_INET6
        self._sweeper: asyncio.Task[None] | None = None
        self._shut = False
        #: the server's one listening session (RFC 6347 cookies; no state per address).
        self._listener: DtlsSession | None = None
        self._listener_context: Any = None
        #: handshakes finished, for the benchmarks and tests.
        self.handshakes = 0
        #: datagrams dropped unread for their size.
        self.oversized = 0
        #: HelloVerifyRequests sent (ClientHellos without a valid cookie), for the tests.
        self.cookies_sent = 0
        #: session failures are logged once per peer host a minute (``bridge.ocf.peer_log``).
        self.failure_log = PeerLogLimit()

    async def start(self, host: str = "::", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET if ipaddress.ip_address(host).version == 4 else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((host, port))
        except OSError:
            sock.close()  # a port that is taken: the caller chooses what to do
            raise
        sock.setblocking(False)
        self._family = family
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self),
                                                                 sock=sock)
        self._sweeper = asyncio.ensure_future(self._sweep())

    @property
    def local_address(self) -> Address:
        if self._transport is None:
            return ("::", 0)
        name = self._transport.get_extra_info("sockname")
        return (str(name[0]), int(name[1]))

    @property
    def sessions(self) -> int:
        return len(self._peers)

    @property
    def handshaking(self) -> int:
        """Sessions whose handshake has not finished."""
        return sum(1 for peer in self._peers.values() if not peer.session.established)

    @property
    def known_peers(self) -> int:
        """Peer addresses held (a session's or a client's), bounded like the sessions."""
        return len(self._remotes)

    def use_server_context(self, context: Any) -> None:
        """Serve new sessions with ``context`` (a new identity hint); open ones keep theirs."""
        self._server_context = context

    def close_sessions(self) -> None:
        """Close every session (close_notify to each peer), as a device does at a reset."""
        for address in list(self._peers):
            self._close(address)

    def key_material(self, host: str, port: int) -> Any:
        """The ``KeyMaterial`` of the established session with ``host``:``port``."""
        for (peer_host, peer_port), peer in self._peers.items():
            if peer_port == port and _plain(peer_host) == _plain(host) \
                    and peer.session.established:
                return peer.session.key_material()
        raise SecurityError(f"{host}:{port}", "no established DTLS session")

    def identity_of(self, address: Address) -> bytes:
        peer = self._peers.get(address)
        return b"" if peer is None else peer.session.peer_identity

    def cipher_of(self, address: Address) -> str:
        peer = self._peers.get(address)
        return "" if peer is None or not peer.session.established else peer.session.cipher

    # -- aiocoap's MessageInterface ------------------------------------------------------

    async def recognize_remote(self, remote: Any) -> bool:
        return isinstance(remote, CoapsRemote) and remote.address in self._remotes \
            and self._remotes[remote.address] is remote

    async def determine_remote(self, message: Any) -> CoapsRemote | None:
        if message.requested_scheme != "coaps" or self._client_context is None:
            return None
        if self._shut:
            raise error.LibraryShutdown()
        if message.unresolved_remote:
            host, port = hostportsplit(message.unresolved_remote)
        else:
            host, port = message.opt.uri_host, message.opt.uri_port
        if not host:
            raise ValueError("a coaps request needs a host")
        return self._remote(await self._address(host, port or COAPS_PORT))

    async def _address(self, host: str, port: int) -> Address:
        numeric = _numeric(host, port, self._family)
        if numeric is not None:
            return numeric
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_DGRAM, family=self._family,
            flags=socket.AI_V4MAPPED if self._family == socket.AF_INET6 else 0)
        addr = infos[0][4]
        return (str(addr[0]), int(addr[1]))

    async def session_with(self, host: str, port: int) -> None:
        """Establish the client session with ``host``:``port`` (or reuse it); returns once
        it is established, raises ``DtlsFailed`` when it fails. The wait is bounded by the
        session limits (a begun handshake ends within ``handshake_timeout``; one that waits
        for a slot begins when another ends), not by any request's timeout: a client that
        reaches a hundred devices at once waits its turn here and then gives each request
        its whole timeout."""
        if self._client_context is None or self._shut:
            raise DtlsFailed("this coaps interface is not a running client")
        address = await self._address(host, port)
        peer = self._peers.get(address)
        if peer is None:
            self._remote(address)
            peer = self._new_peer(address, server=False)
            if peer is None or address not in self._peers:
                raise DtlsFailed(f"{host}:{port}: the DTLS session could not begin")
        if peer.session.established:
            return
        if peer.ready is None:
            peer.ready = asyncio.get_running_loop().create_future()
            # retrieved here, so a failure nobody waits for any more is not reported as lost
            peer.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        await asyncio.shield(peer.ready)

    def send(self, message: Any) -> None:
        remote = message.remote
        if not isinstance(remote, CoapsRemote):
            raise ValueError("not a coaps remote")
        data = bytes(message.encode())
        peer = self._peers.get(remote.address)
        now = time.monotonic()
        if peer is not None and self._lost(peer, now):
            log.info("coaps %s: no answer for %.0f s; starting a new DTLS session",
                     remote.hostinfo, now - (peer.waiting_since or now))
            self._drop(remote.address, None)
            peer = None
        if peer is None:
            if self._client_context is None:
                log.debug("coaps %s: no session to answer on; dropped", remote.hostinfo)
                return
            peer = self._new_peer(remote.address, server=False)
            if peer is None:
                return
        self._peers.move_to_end(remote.address)
        if peer.waiting_since is None:
            peer.waiting_since = now
        if not peer.session.established:
            peer.queue.append(data)
            return
        self._encrypt(remote.address, peer, data)

    async def shutdown(self) -> None:
        self._shut = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for address in list(self._peers):
            self._close(address)
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- sessions ---------------------------------------------------------------------

    def _remote(self, address: Address) -> CoapsRemote:
        remote = self._remotes.get(address)
        if remote is None:
            remote = self._remotes[address] = CoapsRemote(self, address)
        return remote

    def _lost(self, peer: _Peer, now: float) -> bool:
        return (peer.session.established and peer.waiting_since is not None
                and now - peer.waiting_since > self.limits.lost_after
                and peer.last_seen < peer.waiting_since)

    def _make_room(self) -> None:
        pending = [a for a, p in self._peers.items() if not p.session.established]
        begun_by_peers = [a for a in pending if self._peers[a].session.server]
        if len(begun_by_peers) >= self.limits.max_handshakes:
            log.info("coaps: %d DTLS handshakes unfinished (the limit); dropping the oldest, "
                     "with %s", len(begun_by_peers), self._remote(begun_by_peers[0]).hostinfo)
            self._drop(begun_by_peers[0], DtlsFailed("too many unfinished DTLS handshakes"))
            pending.remove(begun_by_peers[0])
        while len(self._peers) >= self.limits.max_sessions:
            if pending:
                self._drop(pending.pop(0), DtlsFailed("too many DTLS sessions"))
                continue
            oldest = next(iter(self._peers))
            log.info("coaps: %d sessions open (the limit); closing the least recently used, "
                     "with %s", len(self._peers), self._remote(oldest).hostinfo)
            self._close(oldest)

    def _new_peer(self, address: Address, *, server: bool) -> _Peer | None:
        self._make_room()
        context = self._server_context if server else self._client_context
        now = time.monotonic()
        peer = _Peer(DtlsSession(context, address, server=server), now, now)
        busy = self._client_handshakes()
        self._peers[address] = peer
        if not server:
            if busy >= self.limits.max_handshakes:
                peer.held = True
                log.debug("coaps %s: %d DTLS handshakes under way; this one waits its turn",
                          self._remote(address).hostinfo, self.limits.max_handshakes)
            else:
                self._step(address, peer, peer.session.start)
        return peer

    def _client_handshakes(self) -> int:
        return sum(1 for p in self._peers.values()
                   if not p.session.server and not p.held and not p.session.established)

    def _start_held(self) -> None:
        """Begin the handshakes that waited, while slots are free."""
        while not self._shut and self._client_handshakes() < self.limits.max_handshakes:
            address = next((a for a, p in self._peers.items() if p.held), None)
            if address is None:
                return
            peer = self._peers[address]
            peer.held = False
            peer.started = time.monotonic()
            self._step(address, peer, peer.session.start)

    def _listen(self, data: bytes, address: Address) -> None:
        """A ClientHello from an address without a handshake under way: answered by the one
        listening session, which becomes this address's session once the cookie is valid."""
        if self._listener is None or self._listener_context is not self._server_context:
            self._listener = DtlsSession(self._server_context, address, server=True)
            self._listener_context = self._server_context
        listener = self._listener
        listener.peer = address
        try:
            listener.receive(data)
        except SecurityError as err:
            self._listener = None
            log.debug("coaps %s: a ClientHello refused: %s", _plain(address[0]), err.message)
            return
        if listener.listening:
            out = listener.pop_outgoing()
            if not out:
                self._listener = None  # not a ClientHello after all: start clean next time
            elif self._transport is not None:
                self.cookies_sent += 1
                for datagram in out:
                    self._transport.sendto(datagram, address)
            return
        self._listener = None
        old = self._peers.get(address)
        if old is not None:
            log.info("coaps %s: a new ClientHello from a known peer (it restarted); "
                     "replacing its session", self._remote(address).hostinfo)
            self._drop(address, None)
        self._make_room()
        now = time.monotonic()
        peer = self._peers[address] = _Peer(listener, now, now)
        self._step(address, peer, lambda: None)

    def datagram_received(self, data: bytes, address: Address) -> None:
        if len(data) > MAX_DATAGRAM:
            self.oversized += 1
            log.debug("coaps %s: a datagram of %d bytes (more than one DTLS record can be); "
                      "dropped", _plain(address[0]), len(data))
            return
        peer = self._peers.get(address)
        if (peer is None or (peer.session.server and peer.session.established)) \
                and _is_client_hello(data):
            if self._server_context is not None:
                self._listen(data, address)
            return
        if peer is None:
            return  # a stale record of a closed session, or not DTLS at all
        peer.last_seen = time.monotonic()
        peer.waiting_since = None
        plaintexts: list[bytes] = []
        self._step(address, peer, lambda: plaintexts.extend(peer.session.receive(data)))
        if address not in self._peers:
            return
        remote = self._remote(address)
        for plain in plaintexts:
            try:
                message = Message.decode(plain, remote)
            except error.UnparsableMessage:
                log.warning("coaps %s: a record that is not a CoAP message; ignored",
                            remote.hostinfo)
                continue
            self._mman.dispatch_message(message)
        if peer.session.closed:
            self._drop(address, DtlsFailed(f"{remote.hostinfo} closed the DTLS session"),
                       quiet=True)

    def _step(self, address: Address, peer: _Peer, action: Any) -> None:
        """Run one session action, then send what it produced and re-arm the timer."""
        was_established = peer.session.established
        try:
            action()
        except SecurityError as err:
            self._flush(peer)
            self._log_failure(address, err.message)
            self._drop(address, DtlsFailed(err.message))
            return
        if peer.session.established and not was_established:
            self.handshakes += 1
            if peer.ready is not None and not peer.ready.done():
                peer.ready.set_result(None)
            log.debug("coaps %s: DTLS session established (%s)",
                      self._remote(address).hostinfo, peer.session.cipher)
            queued, peer.queue = peer.queue, []
            for data in queued:
                peer.session.send(data)
            self._flush(peer)
            self._arm(address, peer)
            if not peer.session.server:
                self._start_held()
            return
        self._flush(peer)
        self._arm(address, peer)

    def _log_failure(self, address: Address, reason: str) -> None:
        suppressed = self.failure_log.admit(_plain(address[0]))
        if suppressed is None:
            log.debug("coaps %s: %s; the session is dropped", self._remote(address).hostinfo,
                      reason)
            return
        more = (f" ({suppressed} more failures of this peer since its previous line were "
                f"not logged)" if suppressed else "")
        log.warning("coaps %s: %s; the session is dropped%s", self._remote(address).hostinfo,
                    reason, more)

    def _encrypt(self, address: Address, peer: _Peer, data: bytes) -> None:
        self._step(address, peer, lambda: peer.session.send(data))

    def _flush(self, peer: _Peer) -> None:
        if self._transport is None:
            return
        for datagram in peer.session.pop_outgoing():
            self._transport.sendto(datagram, peer.session.peer)

    def _arm(self, address: Address, peer: _Peer) -> None:
        if peer.timer is not None:
            peer.timer.cancel()
            peer.timer = None
        delay = peer.session.timeout()
        if delay is not None:
            peer.timer = asyncio.get_running_loop().call_later(
                max(delay, 0.0), self._expired, address, peer)

    def _expired(self, address: Address, peer: _Peer) -> None:
        if self._peers.get(address) is not peer:
            return
        if time.monotonic() - peer.started > self.limits.handshake_timeout:
            self._drop(address, DtlsFailed(
                f"DTLS handshake not finished within {self.limits.handshake_timeout} s"))
            return
        self._step(address, peer, peer.session.handle_timeout)

    def _close(self, address: Address) -> None:
        peer = self._peers.get(address)
        if peer is not None:
            peer.session.close()
            self._flush(peer)
        self._drop(address, DtlsFailed("the DTLS session was closed"), quiet=True)

    def _drop(self, address: Address, err: Exception | None, *, quiet: bool = False) -> None:
        peer = self._peers.pop(address, None)
        if peer is None:
            return
        if peer.timer is not None:
            peer.timer.cancel()
        if peer.ready is not None and not peer.ready.done():
            peer.ready.set_exception(err or DtlsFailed("the DTLS session was closed"))
        if err is not None and not self._shut:
            if not quiet:
                log.debug("coaps %s: %s", self._remote(address).hostinfo, err)
            self._mman.dispatch_error(err, self._remote(address))
        if peer.session.server:
            # a server learns addresses from the network: forget them with the session
            self._remotes.pop(address, None)
        elif not peer.session.established and not peer.held:
            self._start_held()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(self.limits.idle_timeout,
                                    self.limits.handshake_timeout) / 4)
            now = time.monotonic()
            for address, peer in list(self._peers.items()):
                if not peer.session.established:
                    if not peer.held and now - peer.started > self.limits.handshake_timeout:
                        self._drop(address, DtlsFailed("DTLS handshake timed out"))
                elif now - peer.last_seen > self.limits.idle_timeout:
                    log.debug("coaps %s: idle for %.0f s; closing the session",
                              self._remote(address).hostinfo, now - peer.last_seen)
                    self._close(address)


def _is_client_hello(data: bytes) -> bool:
    # RFC 6347 4.1/4.2.2: record type 22 (handshake), epoch 0, message type 1.
    return len(data) > 13 and data[0] == 22 and data[3:5] == b"\0\0" and data[13] == 1


async def attach(context: Any, **options: Any) -> CoapsInterface:
    """Add a :class:`CoapsInterface` to the aiocoap ``context`` and start it; ``options``
    are :class:`CoapsInterface`'s and ``host``/``port`` to bind."""
    host = options.pop("host", "::")
    port = options.pop("port", 0)
    made: list[CoapsInterface] = []

    async def build(mman: Any) -> CoapsInterface:
        interface = CoapsInterface(mman, **options)
        await interface.start(host, port)
        made.append(interface)
        return interface

    await context._append_tokenmanaged_messagemanaged_transport(build)
    return made[0]
