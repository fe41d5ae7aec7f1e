"""Bad input to DTLS (issue 16 point 7), over real UDP on loopback, against the gateway's secured
bridge device (``[ocf] secure_virtual_devices``), owned by the simulated onboarding tool, while
a provisioned client keeps one session open and reads through it after every attack:

- a flood of ClientHellos from many ports that never return the cookie: each gets a
  HelloVerifyRequest and the server holds no session and no address for any of them;
- handshakes that stop half way (after the cookie): at most ``max_handshakes`` are held, the
  oldest pushed out first, never the client's established session;
- malformed records: random bytes, mutated and truncated ClientHellos, records of a later
  epoch, and garbage into a half-done handshake;
- oversized datagrams (larger than one DTLS record can be): dropped unread.

The counts asserted are of sessions and addresses, not times; the client's session is the one
it opened at the start (one handshake in all)."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bridge.core.registry import Registry
from bridge.ocf import dtls
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.coaps import MAX_DATAGRAM, CoapsInterface
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import Endpoint
from bridge.ocf.sec_keys import nul_free_uuid
from bridge.ocf.virtual import VirtualOcfDevices
from bridge.sim.ocf_obt import OnboardingTool, client_ace
from bridge.sim.testing.procs import await_until, free_udp_port
from tests.fuzz.conftest import Record

HELLO_PORTS = 60
HELLOS_PER_PORT = 5
HALF_WAY = 40
MALFORMED = 400


@dataclass
class Target:
    server: CoapsInterface
    endpoint: Endpoint
    client: OcfClient


@pytest.fixture
async def target(registry: Registry) -> AsyncIterator[Target]:
    virtual = VirtualOcfDevices(registry, gateway_name="Fuzz gateway", bind_host="::",
                                server_port=free_udp_port(), multicast=[], max_payload=4096,
                                secure=True)
    await virtual.start()
    assert virtual.security is not None
    bridge = virtual.security.bridge
    plain = Endpoint("coap", "::1", virtual.listener.port)
    secure = Endpoint("coaps", "::1", bridge.coaps_port)
    obt = OnboardingTool()
    owned = await obt.own(plain, secure, bridge.pin)
    me = nul_free_uuid()
    key = await obt.provision(owned, me, [client_ace(me)])
    client = OcfClient(5.0, 65536, keyring=Keyring(me, {owned.uuid: key}))
    await client.start()
    assert bridge.coaps is not None
    try:
        yield Target(bridge.coaps, secure, client)
    finally:
        await client.shutdown()
        await virtual.shutdown()


def attacker(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::1", 0))
    sock.connect(("::1", port))
    sock.setblocking(False)
    return sock


def dtls_client() -> dtls.DtlsSession:
    session = dtls.DtlsSession(dtls.client_context(lambda _s, _h: None), ("::1", 0),
                               server=False)
    session.start()
    return session


def client_hello() -> bytes:
    (hello,) = dtls_client().pop_outgoing()
    return hello


async def answer(sock: socket.socket) -> bytes:
    async with asyncio.timeout(10.0):
        return await asyncio.get_running_loop().sock_recv(sock, 65536)


async def still_served(target: Target) -> None:
    """The provisioned client reads over the session it opened first."""
    vodlist = await target.client.get(target.endpoint, "/bridge/vodlist")
    assert isinstance(vodlist, dict | list), vodlist
    assert target.client.coaps is not None and target.client.coaps.handshakes == 1
    assert target.server.sessions >= 1


async def synced(sock: socket.socket) -> None:
    """Everything sent on ``sock`` so far was read by the server: a ClientHello sent last is
    answered (one socket's datagrams arrive in order on loopback)."""
    sock.send(client_hello())
    await answer(sock)


async def test_dtls_bad_input_leaves_the_server_bounded_and_serving(
        target: Target, fuzz_cases: Record) -> None:
    server, port = target.server, target.endpoint.port
    limits = server.limits
    await still_served(target)
    assert server.sessions == 1 and server.known_peers == 1

    # 1. A ClientHello flood from many ports, no cookie ever returned: no state at all.
    sockets = [attacker(port) for _ in range(HELLO_PORTS)]
    try:
        before = server.cookies_sent
        for _ in range(HELLOS_PER_PORT):
            # a burst from every port at once, then every answer (one each: a cookie)
            for sock in sockets:
                sock.send(client_hello())
            replies = await asyncio.gather(*(answer(sock) for sock in sockets))
            assert all(reply[0] == 22 and reply[13] == 3 for reply in replies)  # HVR
            assert server.sessions == 1 and server.known_peers == 1
        assert server.cookies_sent - before == HELLO_PORTS * HELLOS_PER_PORT
        fuzz_cases("DTLS ClientHello flood", HELLO_PORTS * HELLOS_PER_PORT)
        await still_served(target)
    finally:
        for sock in sockets:
            sock.close()

    # 2. Handshakes that stop half way, after the cookie, from many ports.
    sockets = [attacker(port) for _ in range(HALF_WAY)]
    try:
        for sock in sockets:
            session = dtls_client()
            sock.send(session.pop_outgoing()[0])
            session.receive(await answer(sock))  # the HelloVerifyRequest
            sock.send(session.pop_outgoing()[0])  # the ClientHello with the cookie
            await answer(sock)  # the server's flight: it holds a handshake for us now
            assert server.handshaking <= limits.max_handshakes
            assert server.sessions <= 1 + limits.max_handshakes
        assert server.handshaking == limits.max_handshakes
        assert server.known_peers <= server.sessions
        fuzz_cases("DTLS handshakes stopped half way", HALF_WAY)
        await still_served(target)

        # 3. Malformed records, into the half-done handshakes and from new ports.
        rng = random.Random(16)
        hello = client_hello()
        kinds = [
            lambda: rng.randbytes(rng.randrange(0, 200)),
            lambda: hello[:rng.randrange(0, len(hello))],
            lambda: bytes(b ^ (rng.randrange(1, 256) if rng.random() < 0.05 else 0)
                          for b in hello),
            lambda: hello[:13] + rng.randbytes(rng.randrange(0, 300)),
            lambda: bytes([rng.choice((20, 21, 22, 23, 24, 99))]) + b"\xfe\xfd\x00\x01"
            + rng.randbytes(6) + (rng.randrange(0, 65536)).to_bytes(2, "big")
            + rng.randbytes(rng.randrange(0, 100)),
            lambda: b"\x16\xfe\xfd\x00\x00" + rng.randbytes(6) + b"\xff\xff\x01"
            + rng.randbytes(rng.randrange(0, 100)),
        ]
        fresh = [attacker(port) for _ in range(8)]
        sockets += fresh
        for number in range(MALFORMED):
            rng.choice(sockets).send(rng.choice(kinds)())
            if number % 50 == 49:
                await still_served(target)
        for sock in sockets:
            await synced(sock)
        assert server.handshaking <= limits.max_handshakes
        assert server.sessions <= 1 + limits.max_handshakes
        assert server.known_peers <= server.sessions
        fuzz_cases("DTLS malformed records", MALFORMED)
        await still_served(target)

        # 4. Oversized datagrams: dropped before the DTLS library reads them.
        oversized = [MAX_DATAGRAM + 1, 20000, 32768, 65000]
        dropped = server.oversized
        for number, size in enumerate(oversized):
            # one at a time: a burst of 64 KiB datagrams would overflow the socket's buffer
            sockets[0].send(hello + rng.randbytes(size - len(hello)))
            await await_until(lambda n=number: server.oversized - dropped == 2 * n + 1,
                              message="an oversized ClientHello dropped")
            sockets[-1].send(rng.randbytes(size))
            await await_until(lambda n=number: server.oversized - dropped == 2 * n + 2,
                              message="an oversized datagram dropped")
        fuzz_cases("DTLS oversized datagrams", 2 * len(oversized))
        await still_served(target)
    finally:
        for sock in sockets:
            sock.close()
    assert server.sessions <= 1 + limits.max_handshakes
