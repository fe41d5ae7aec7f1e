"""DTLS sessions of bridge.ocf.dtls on memory (no sockets): the OCF suite, binary
identities, the server's hint, cookies, key material, refusals; and the library bound."""

from __future__ import annotations

import uuid

import pytest

from bridge.core.errors import SecurityError
from bridge.ocf import dtls_lib, sec_keys
from bridge.ocf.dtls import DtlsSession, client_context, server_context
from bridge.ocf.keyring import Keyring

SERVER = uuid.UUID(bytes=bytes(range(0x80, 0x90)))  # not valid UTF-8
CLIENT = uuid.UUID(bytes=bytes(range(0xF0, 0x100)))
KEY = bytes(range(16))


def pair(server_key: bytes | None = KEY, hint: bytes = SERVER.bytes,
         ring: Keyring | None = None) -> tuple[DtlsSession, DtlsSession, list[bytes]]:
    ring = ring if ring is not None else Keyring(CLIENT, {SERVER: KEY})
    seen: list[bytes] = []

    def find(_s: DtlsSession, identity: bytes) -> bytes | None:
        seen.append(identity)
        return server_key

    server = DtlsSession(server_context(hint, find), ("client", 1), server=True)
    client = DtlsSession(client_context(ring.choose), ("server", 2), server=False)
    return server, client, seen


def run(server: DtlsSession, client: DtlsSession) -> list[list[bytes]]:
    """Pump flights both ways until both sides are established; the server's flights."""
    flights: list[list[bytes]] = []
    client.start()
    for _ in range(8):
        for datagram in client.pop_outgoing():
            server.receive(datagram)
        flight = server.pop_outgoing()
        flights.append(flight)
        for datagram in flight:
            client.receive(datagram)
        if client.established and server.established:
            break
    return flights


def test_psk_handshake_with_binary_identities_and_hint() -> None:
    server, client, seen = pair()
    flights = run(server, client)
    assert client.established and server.established
    assert client.cipher == server.cipher == "ECDHE-PSK-AES128-CBC-SHA256"
    assert seen == [CLIENT.bytes]
    assert client.peer_identity == SERVER.bytes and server.peer_identity == CLIENT.bytes
    # the first answer to a ClientHello is a HelloVerifyRequest (handshake type 3)
    assert flights[0][0][0] == 22 and flights[0][0][13] == 3
    client.send(b"\x40\x01\x00\x01")
    assert [server.receive(d) for d in client.pop_outgoing()] == [[b"\x40\x01\x00\x01"]]
    mine, theirs = client.key_material(), server.key_material()
    assert mine == theirs and len(mine.master) == 48
    block = sec_keys.key_block(mine.master, mine.client_random, mine.server_random,
                               mine.cipher)
    assert len(block) == 96


def test_client_refuses_a_server_without_hint_holding_the_fallback_byte() -> None:
    # The reference client's fallback: no hint, key = first byte of the client's uuid.
    server, client, _ = pair(server_key=CLIENT.bytes[:1], hint=b"")
    with pytest.raises(SecurityError):
        run(server, client)
    assert not client.established


def test_client_refuses_a_server_with_the_hint_but_not_the_key() -> None:
    server, client, _ = pair(server_key=bytes(16))
    with pytest.raises(SecurityError):
        run(server, client)
    assert not client.established and not server.established


def test_server_refuses_an_unknown_identity() -> None:
    server, client, _ = pair(server_key=None)
    with pytest.raises(SecurityError):
        run(server, client)
    assert not server.established


def test_a_replayed_client_hello_from_another_address_gets_only_a_cookie() -> None:
    context = server_context(SERVER.bytes, lambda _s, _i: KEY)
    client = DtlsSession(client_context(Keyring(CLIENT, {SERVER: KEY}).choose), ("s", 2),
                         server=False)
    client.start()
    first = DtlsSession(context, ("a", 1), server=True)
    first.receive(client.pop_outgoing()[0])
    client.receive(first.pop_outgoing()[0])
    with_cookie = client.pop_outgoing()
    other = DtlsSession(context, ("b", 2), server=True)
    other.receive(with_cookie[0])  # the cookie is bound to ("a", 1)
    answer = other.pop_outgoing()
    assert not other.established
    assert answer and answer[0][13] == 3  # a new HelloVerifyRequest, no ServerHello


def test_keyring_matches_a_hint_cut_at_a_zero_byte() -> None:
    with_zero = uuid.UUID(bytes=b"\x01\x02\x00" + bytes(range(3, 16)))
    ring = Keyring(CLIENT, {with_zero: KEY})
    assert ring.choose(None, b"\x01\x02") == (CLIENT.bytes, KEY)
    assert ring.choose(None, b"\x01") is None
    assert ring.choose(None, b"") is None


def test_pin_and_owner_keys_are_deterministic() -> None:
    device = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert sec_keys.pin_psk("12345678", device) == sec_keys.pin_psk("12345678", device)
    assert sec_keys.pin_psk("12345678", device) != sec_keys.pin_psk("12345679", device)
    # RFC 5246 PRF-SHA256 test vector (IETF TLS WG, "TLS 1.2 PRF test vectors")
    out = sec_keys.prf_sha256(bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label",
                              bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"), 100)
    assert out[:16].hex() == "e3f229ba727be17b8d122620557cd453"
    assert b"\0" not in sec_keys.nul_free_uuid().bytes


def test_library_is_within_the_supported_bound() -> None:
    binding = dtls_lib.load()
    major = int(binding.version.split(".")[0])
    assert dtls_lib.SUPPORTED[0] <= major < dtls_lib.SUPPORTED[1]
    with pytest.raises(ValueError):
        dtls_lib.set_psk_server(binding.SSL.Context(binding.SSL.DTLS_SERVER_METHOD),
                                b"a\0b", lambda _s, _i: None)
