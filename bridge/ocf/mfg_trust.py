"""Manufacturer certificates as files: a device's own (certificate, key, chain) and the CAs an
owner trusts, and the owner's trust decision on a chain a device sent.

Layer: ``bridge.ocf`` (reads PEM files; chain checks through pyOpenSSL's public
``X509Store``/``X509StoreContext``, i.e. OpenSSL's own path validation; no sockets).

The trust decision (docs/security.md, "Manufacturer certificates"): the chain the device
sent during the certificate suite's handshake (end-entity first, then intermediates) must
lead, by OpenSSL's path validation at the current time, to one of the user's trust anchors
(signatures, validity periods of every certificate, CA constraints), and the end-entity
certificate must fit the OCF profile (``bridge.ocf.mfg_profile``). The handshake itself
proved that the device holds the end-entity certificate's key (it signed the key exchange).
The gateway ships no trust anchor: only CAs the user names are trusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bridge.core.errors import SecurityError
from bridge.ocf import dtls_lib
from bridge.ocf.mfg_profile import profile_problem


class CertificateFileError(ValueError):
    """A certificate or key file that cannot be used; the text says why."""


def read_certificates(path: Path) -> list[x509.Certificate]:
    """Every PEM certificate in ``path`` (at least one)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CertificateFileError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise CertificateFileError(f"{path} holds no readable PEM certificate ({err})"
                                   ) from None
    if not certificates:
        raise CertificateFileError(f"{path} holds no PEM certificate")
    return certificates


def read_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CertificateFileError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as err:
        raise CertificateFileError(f"{path} holds no readable unencrypted PEM private key "
                                   f"({err})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateFileError(f"{path} is not an EC private key")
    return key


@dataclass(frozen=True)
class DeviceCertificate:
    """What a device serves in the certificate suite: its end-entity certificate, the key,
    and the intermediates between it and its manufacturer's root."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def load(cls, cert: Path, key: Path, chain: Path | None = None) -> DeviceCertificate:
        """Read the three files; ``CertificateFileError`` says what is wrong with which."""
        certificates = read_certificates(cert)
        private = read_private_key(key)
        extra = read_certificates(chain) if chain is not None else []
        leaf, bundled = certificates[0], certificates[1:]
        problem = profile_problem(leaf)
        if problem:
            raise CertificateFileError(f"{cert} is not an OCF manufacturer certificate: "
                                       f"{problem}")
        mine = private.public_key().public_numbers()
        if leaf.public_key().public_numbers() != mine:  # type: ignore[union-attr]
            raise CertificateFileError(f"the key in {key} does not belong to the certificate "
                                       f"in {cert}")
        return cls(leaf, private, tuple(bundled) + tuple(extra))

    def for_dtls(self) -> tuple[Any, Any, tuple[Any, ...]]:
        """(certificate, key, chain) for ``dtls.server_context`` (pyOpenSSL takes
        ``cryptography`` objects)."""
        return self.certificate, self.key, self.chain


class TrustAnchors:
    """The CA certificates an owner trusts for manufacturer certificates."""

    def __init__(self, anchors: Sequence[x509.Certificate]) -> None:
        self.anchors = tuple(anchors)

    @classmethod
    def load(cls, path: Path) -> TrustAnchors:
        anchors = read_certificates(path)
        for anchor in anchors:
            try:
                ca = anchor.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                ca = False
            if not ca:
                raise CertificateFileError(f"{path}: {anchor.subject.rfc4514_string()} is "
                                           f"not a CA certificate")
        return cls(anchors)

    def verify(self, peer: str, chain: Sequence[x509.Certificate]) -> x509.Certificate:
        """The end-entity certificate of ``chain`` when it is trusted; ``SecurityError``
        with the reason otherwise (``peer`` names the device in it)."""
        if not chain:
            raise SecurityError(peer, "the device sent no certificate")
        leaf, intermediates = chain[0], chain[1:]
        subject = leaf.subject.rfc4514_string()
        dtls_lib.load()
        from OpenSSL import crypto

        store = crypto.X509Store()
        for anchor in self.anchors:
            store.add_cert(crypto.X509.from_cryptography(anchor))
        context = crypto.X509StoreContext(
            store, crypto.X509.from_cryptography(leaf),
            chain=[crypto.X509.from_cryptography(c) for c in intermediates])
        try:
            context.verify_certificate()
        except crypto.X509StoreContextError as err:
            raise SecurityError(peer, f"manufacturer certificate {subject!r} refused: "
                                      f"{err}") from None
        problem = profile_problem(leaf)
        if problem:
            raise SecurityError(peer, f"manufacturer certificate {subject!r} refused: "
                                      f"{problem}")
        return leaf
