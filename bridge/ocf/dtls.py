"""DTLS 1.2 associations without sockets: datagrams in, datagrams and plaintext out.

Layer: ``bridge.ocf`` I/O edge (pyOpenSSL's public API on memory BIOs, the PSK parts through
``bridge.ocf.dtls_lib``; no sockets, no asyncio). The caller owns the socket and the timers:
it feeds every datagram of the peer to :meth:`DtlsSession.receive`, sends what
:meth:`DtlsSession.pop_outgoing` returns, and calls :meth:`DtlsSession.handle_timeout` when
:meth:`DtlsSession.timeout` has passed (the handshake's retransmission timer, RFC 6347 4.2.4).

A server session answers the first ClientHello with a HelloVerifyRequest and a cookie bound
to the client's address (RFC 6347 4.2.1) and keeps no handshake state until the client
returns it. Key choice follows OCF: the server sends its uuid as PSK identity hint, the
client picks the key for that hint (:class:`PskClient`) and never falls back to any other.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.core.errors import SecurityError
from bridge.ocf import dtls_lib

#: The DTLS 1.2 protocol version number (RFC 6347 4.1), the lowest accepted.
DTLS1_2_VERSION = 0xFEFD
#: Bytes of one DTLS datagram (a CoAP message of 1024 bytes payload plus headers fits).
MTU = 1280

#: Client key choice: (session, hint) -> (our identity, key) or None to refuse.
ChooseKey = Callable[["DtlsSession", bytes], "tuple[bytes, bytes] | None"]
#: Server key lookup: (session, client identity) -> key or None to refuse.
FindKey = Callable[["DtlsSession", bytes], "bytes | None"]
#: Client side, certificate suites: called once the handshake ended, before any data is
#: sent; raises ``SecurityError`` to refuse the server (its chain is not trusted).
CheckPeer = Callable[["DtlsSession"], None]


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """The secrets of an established session that OCF's owner PSK derivation needs."""

    master: bytes
    client_random: bytes
    server_random: bytes
    cipher: str


def client_context(choose: ChooseKey, *, ciphers: str = dtls_lib.PSK_SUITE,
                   check_peer: CheckPeer | None = None) -> Any:
    """A client context for PSK (``choose``) or certificate suites. With a certificate
    suite, ``check_peer`` decides on the server's chain once the handshake ended (the
    handshake proved the server holds the end-entity key; the chain is the caller's to
    trust, ``bridge.ocf.mfg_trust``): no request leaves before it accepted."""
    b = dtls_lib.load()
    context = b.SSL.Context(b.SSL.DTLS_CLIENT_METHOD)
    context.set_min_proto_version(DTLS1_2_VERSION)
    context.set_cipher_list(ciphers.encode("ascii"))
    context.set_app_data(check_peer)
    def pick(session: DtlsSession, hint: bytes) -> tuple[bytes, bytes] | None:
        session.peer_identity = hint
        return choose(session, hint)

    dtls_lib.set_psk_client(context, pick)
    return context


def server_context(hint: bytes, find: FindKey, *, ciphers: str = dtls_lib.PSK_SUITE,
                   certificate: Any = None, key: Any = None, chain: tuple[Any, ...] = ()
                   ) -> Any:
    """A server context that sends ``hint`` and looks client keys up with ``find``; with
    ``certificate`` and ``key`` (``cryptography`` objects) it can also serve certificate suites."""
    b = dtls_lib.load()
    context = b.SSL.Context(b.SSL.DTLS_SERVER_METHOD)
    context.set_min_proto_version(DTLS1_2_VERSION)
    context.set_cipher_list(ciphers.encode("ascii"))
    if certificate is not None:
        context.use_certificate(certificate)
        context.use_privatekey(key)
        for extra in chain:
            context.add_extra_chain_cert(extra)
    secret = os.urandom(32)
    context.set_cookie_generate_callback(lambda conn: _cookie(secret, conn))
    context.set_cookie_verify_callback(
        lambda conn, cookie: hmac.compare_digest(_cookie(secret, conn), bytes(cookie)))
    def lookup(session: DtlsSession, identity: bytes) -> bytes | None:
        session.peer_identity = identity
        return find(session, identity)

    dtls_lib.set_psk_server(context, hint, lookup)
    return context


def _cookie(secret: bytes, connection: Any) -> bytes:
    session = connection.get_app_data()
    peer = repr(getattr(session, "peer", None)).encode()
    return hmac.new(secret, peer, hashlib.sha256).digest()[:16]


class DtlsSession:
    """One DTLS association with ``peer`` (any hashable the caller uses, an address)."""

    def __init__(self, context: Any, peer: Any, *, server: bool, mtu: int = MTU) -> None:
        b = dtls_lib.load()
        self._ssl = b.SSL
        self.peer = peer
        self.server = server
        #: server: the identity the client named; client: the hint the server sent.
        self.peer_identity = b""
        self.established = False
        #: the peer ended the association (close_notify) or it failed.
        self.closed = False
        self._listening = server
        self._connection = b.SSL.Connection(context, None)
        self._connection.set_app_data(self)
        self._connection.set_ciphertext_mtu(mtu)
        if server:
            self._connection.set_accept_state()
        else:
            self._connection.set_connect_state()

    @property
    def listening(self) -> bool:
        """Server side: no ClientHello with a valid cookie yet (no handshake state kept)."""
        return self._listening

    def start(self) -> None:
        """Begin the handshake (client side): the ClientHello is then in the outgoing queue."""
        self._advance()

    def receive(self, datagram: bytes) -> list[bytes]:
        """Feed one datagram; returns the application data it carried (CoAP messages).
        Raises ``SecurityError`` when the handshake or the association fails."""
        if self.closed:
            return []
        self._connection.bio_write(datagram)
        if self._listening:
            try:
                self._connection.DTLSv1_listen()
            except self._ssl.WantReadError:
                return []  # answered with a HelloVerifyRequest, or not a ClientHello
            except self._ssl.Error as err:
                raise self._failure(err) from None
            self._listening = False
        if not self.established:
            self._advance()
            if not self.established:
                return []
        return self._read_all()

    def _advance(self) -> None:
        try:
            self._connection.do_handshake()
        except self._ssl.WantReadError:
            return
        except self._ssl.Error as err:
            raise self._failure(err) from None
        check: CheckPeer | None = None if self.server else \
            self._connection.get_context().get_app_data()
        if check is not None:
            try:
                check(self)
            except SecurityError:
                self._refuse()
                raise
        self.established = True

    def _refuse(self) -> None:
        # the server's chain is not trusted: close_notify (queued), nothing else is sent
        self.closed = True
        try:
            self._connection.shutdown()
        except self._ssl.Error:
            pass

    def _read_all(self) -> list[bytes]:
        out: list[bytes] = []
        while True:
            try:
                out.append(self._connection.recv(65536))
            except self._ssl.WantReadError:
                return out
            except self._ssl.ZeroReturnError:
                self.closed = True
                return out
            except self._ssl.Error as err:
                raise self._failure(err) from None

    def send(self, data: bytes) -> None:
        """Encrypt one application datagram (after the handshake)."""
        if not self.established or self.closed:
            raise SecurityError(str(self.peer), "the DTLS session is not established")
        try:
            self._connection.send(data)
        except self._ssl.Error as err:
            raise self._failure(err) from None

    def pop_outgoing(self) -> list[bytes]:
        """The datagrams to send to the peer now."""
        out: list[bytes] = []
        while True:
            try:
                data = self._connection.bio_read(65536)
            except self._ssl.WantReadError:
                return out
            if not data:
                return out
            out.append(data)

    def timeout(self) -> float | None:
        """Seconds until :meth:`handle_timeout` must run, None when no timer is running."""
        if self.established:
            return None
        value = self._connection.DTLSv1_get_timeout()
        return None if value is None else float(value)

    def handle_timeout(self) -> None:
        """Retransmit the last flight when its timer expired (the datagrams are queued)."""
        try:
            self._connection.DTLSv1_handle_timeout()
        except self._ssl.Error as err:
            raise self._failure(err) from None

    def close(self) -> None:
        """Send close_notify (queued) and stop."""
        if self.established and not self.closed:
            try:
                self._connection.shutdown()
            except self._ssl.Error:
                pass
        self.closed = True

    @property
    def cipher(self) -> str:
        return str(self._connection.get_cipher_name() or "")

    def key_material(self) -> KeyMaterial:
        if not self.established:
            raise SecurityError(str(self.peer), "no key material before the handshake ends")
        return KeyMaterial(bytes(self._connection.master_key()),
                           bytes(self._connection.client_random()),
                           bytes(self._connection.server_random()), self.cipher)

    def peer_certificates(self) -> list[Any]:
        """The certificate chain the server sent (cryptography objects), for the caller to
        verify; empty for PSK sessions."""
        chain = self._connection.get_peer_cert_chain(as_cryptography=True)
        return list(chain or [])

    def _failure(self, err: Exception) -> SecurityError:
        self.closed = True
        reasons = [entry[2] for arg in err.args if isinstance(arg, list) for entry in arg
                   if isinstance(entry, tuple) and len(entry) == 3 and entry[2]]
        detail = "; ".join(reasons) or type(err).__name__
        return SecurityError(str(self.peer), f"DTLS failed: {detail}")
