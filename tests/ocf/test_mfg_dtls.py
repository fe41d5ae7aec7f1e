"""The certificate suite (0xC0AE) of bridge.ocf.dtls on memory, with a test PKI: the owner's
trust decision before any data, and the same owner PSK on both sides (issue 16.5)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bridge.core.errors import SecurityError
from bridge.ocf import dtls_lib, sec_keys, svr
from bridge.ocf.dtls import DtlsSession, client_context, server_context
from bridge.ocf.mfg_trust import DeviceCertificate, TrustAnchors
from bridge.sim.testing.pki import DeviceFiles, TestPki
from tests.ocf.test_dtls import run

OWNER = uuid.UUID(bytes=bytes(range(0xF0, 0x100)))
DEVICE = uuid.UUID(bytes=bytes(range(0x80, 0x90)))


def sessions(files: DeviceFiles, anchors: TrustAnchors
             ) -> tuple[DtlsSession, DtlsSession, list[str]]:
    device = DeviceCertificate.load(files.cert, files.key, files.chain)
    certificate, key, chain = device.for_dtls()
    server = DtlsSession(server_context(DEVICE.bytes, lambda _s, _i: None,
                                        ciphers=dtls_lib.CERT_CIPHERS, certificate=certificate,
                                        key=key, chain=chain), ("owner", 1), server=True)
    accepted: list[str] = []

    def check(session: DtlsSession) -> None:
        leaf = anchors.verify("device", session.peer_certificates())
        accepted.append(leaf.subject.rfc4514_string())

    client = DtlsSession(client_context(lambda _s, _h: None, ciphers=dtls_lib.CERT_CIPHERS,
                                        check_peer=check), ("device", 2), server=False)
    return server, client, accepted


def test_certificate_session_verified_and_owner_psk_agrees(tmp_path: Path) -> None:
    pki = TestPki(tmp_path)
    server, client, accepted = sessions(pki.device("lamp"), TrustAnchors.load(pki.anchors))
    run(server, client)
    assert client.established and server.established
    assert client.cipher == server.cipher == dtls_lib.CERT_SUITE
    assert accepted == ["CN=lamp 1,O=Test Manufacturer"]
    # the chain arrived whole: the device certificate, then the intermediate
    assert len(client.peer_certificates()) == 2
    keys = []
    for side in (client, server):
        material = side.key_material()
        block = sec_keys.key_block(material.master, material.client_random,
                                   material.server_random, material.cipher)
        assert len(block) == 40
        keys.append(sec_keys.owner_psk(block, svr.MFG_CERT, OWNER, DEVICE))
    assert keys[0] == keys[1] and len(keys[0]) == 16
    # the method's label makes the key: the Random PIN label gives another one
    pin_key = sec_keys.owner_psk(block, svr.RANDOM_PIN, OWNER, DEVICE)
    assert pin_key != keys[0]


@pytest.mark.parametrize(("case", "reason"), [
    ("expired", "certificate has expired"),
    ("untrusted", "unable to get local issuer certificate"),
    ("not_yet_valid", "certificate is not yet valid"),
])
def test_refused_chain_sends_nothing(tmp_path: Path, case: str, reason: str) -> None:
    pki = TestPki(tmp_path / "maker")
    if case == "untrusted":
        files = TestPki(tmp_path / "stranger", name="Stranger").device("lamp")
    else:
        files = pki.device("lamp", expired=case == "expired",
                           not_yet_valid=case == "not_yet_valid")
    server, client, accepted = sessions(files, TrustAnchors.load(pki.anchors))
    with pytest.raises(SecurityError, match=reason):
        run(server, client)
    assert not client.established and client.closed and accepted == []
    with pytest.raises(SecurityError):
        client.send(b"\x40\x01\x00\x01")
    with pytest.raises(SecurityError):
        client.key_material()


def test_device_certificate_files_checked(tmp_path: Path) -> None:
    pki = TestPki(tmp_path)
    files = pki.device("lamp")
    other = pki.device("other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                       "-----END CERTIFICATE-----\n")
    from bridge.ocf.mfg_trust import CertificateFileError

    with pytest.raises(CertificateFileError, match="holds no readable PEM certificate"):
        DeviceCertificate.load(garbage, files.key)
    with pytest.raises(CertificateFileError, match="does not belong to the certificate"):
        DeviceCertificate.load(files.cert, other.key)
    with pytest.raises(CertificateFileError, match="not an OCF manufacturer certificate: it "
                                                   "is a CA certificate"):
        DeviceCertificate.load(pki.anchors, files.key)
    with pytest.raises(CertificateFileError, match="is not a CA certificate"):
        TrustAnchors.load(files.cert)
