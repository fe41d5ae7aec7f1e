"""Benchmark: the manufacturer certificate ownership session's handshake against a PSK one.

Layer: benchmark tooling. Both sides of each DTLS 1.2 handshake run in this process on memory
(``bridge.ocf.dtls`` sessions, no sockets, so the number is the CPU of the handshake, not the
network): the certificate suite 0xC0AE with a device certificate and its intermediate from a
test PKI (``bridge.sim.testing.pki``), including the owner's trust decision
(``bridge.ocf.mfg_trust``: OpenSSL's path validation and the OCF profile), against the PSK
suite 0xC037 that every later session uses. Rows: p50 and p99 per handshake, and the
certificate handshake's p50 as a multiple of the PSK one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.stats import Report, percentile, ratio
from bridge.ocf import dtls_lib
from bridge.ocf.dtls import DtlsSession, client_context, server_context
from bridge.ocf.keyring import Keyring
from bridge.ocf.mfg_trust import DeviceCertificate, TrustAnchors
from bridge.sim.testing.pki import TestPki

NAME = "mfg_handshake"
COUNTS = {"full": 400, "quick": 100, "tiny": 10}
"""Handshakes per suite."""
SERVER = uuid.UUID(bytes=bytes(range(0x80, 0x90)))
CLIENT = uuid.UUID(bytes=bytes(range(0xF0, 0x100)))
KEY = bytes(range(16))


def _pump(server: DtlsSession, client: DtlsSession) -> None:
    client.start()
    for _ in range(8):
        for datagram in client.pop_outgoing():
            server.receive(datagram)
        for datagram in server.pop_outgoing():
            client.receive(datagram)
        if client.established and server.established:
            return
    raise RuntimeError("the handshake did not end")


def _time(make: Callable[[], tuple[DtlsSession, DtlsSession]], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        server, client = make()
        start = time.perf_counter()
        _pump(server, client)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def run(directory: Path, size: str) -> Report:
    count = COUNTS[size]
    pki = TestPki(directory / "pki")
    files = pki.device("bench")
    device = DeviceCertificate.load(files.cert, files.key, files.chain)
    anchors = TrustAnchors.load(pki.anchors)
    certificate, key, chain = device.for_dtls()
    cert_server = server_context(SERVER.bytes, lambda _s, _i: None,
                                 ciphers=dtls_lib.CERT_CIPHERS, certificate=certificate,
                                 key=key, chain=chain)
    def check(session: DtlsSession) -> None:
        anchors.verify("bench", session.peer_certificates())

    cert_client = client_context(lambda _s, _h: None, ciphers=dtls_lib.CERT_CIPHERS,
                                 check_peer=check)
    psk_server = server_context(SERVER.bytes, lambda _s, _i: KEY)
    psk_client = client_context(Keyring(CLIENT, {SERVER: KEY}).choose)

    def certificate_pair() -> tuple[DtlsSession, DtlsSession]:
        return (DtlsSession(cert_server, ("client", 1), server=True),
                DtlsSession(cert_client, ("server", 2), server=False))

    def psk_pair() -> tuple[DtlsSession, DtlsSession]:
        return (DtlsSession(psk_server, ("client", 1), server=True),
                DtlsSession(psk_client, ("server", 2), server=False))

    report = Report(NAME)
    psk = _time(psk_pair, count)
    mfg = _time(certificate_pair, count)
    report.add("PSK handshake 0xC037 p50", percentile(psk, 0.5), "ms")
    report.add("PSK handshake 0xC037 p99", percentile(psk, 0.99), "ms")
    report.add("certificate handshake 0xC0AE + chain check p50", percentile(mfg, 0.5), "ms",
               baseline=percentile(psk, 0.5))
    report.add("certificate handshake 0xC0AE + chain check p99", percentile(mfg, 0.99), "ms",
               baseline=percentile(psk, 0.99))
    report.notes.append(
        f"mfg_handshake: both sides on memory in one process, {count} handshakes per suite; "
        f"the certificate handshake with the owner's chain check costs "
        f"{ratio(percentile(mfg, 0.5), percentile(psk, 0.5)):.1f}x a PSK handshake (p50).")
    return report
