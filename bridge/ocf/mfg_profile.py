"""The OCF manufacturer certificate profile: what such a certificate holds, to check and to make.

Layer: ``bridge.ocf`` pure (``cryptography``'s X.509 objects; no sockets, no DTLS library).
A device that offers the manufacturer certificate ownership transfer (``oxmsel`` 2) proves
who made it with an end-entity certificate its manufacturer's CA issued
(docs/security.md, "Manufacturer certificates"):

- an EC key on P-256, signed with ECDSA and SHA-256;
- basic constraints without CA; key usage ``digitalSignature`` and ``keyAgreement``;
- extended key usage ``serverAuth`` (1.3.6.1.5.5.7.3.1), ``clientAuth`` (1.3.6.1.5.5.7.3.2)
  and OCF's identity certificate purpose (1.3.6.1.4.1.44924.1.6), never
  ``anyExtendedKeyUsage``.

:func:`profile_problem` says what a certificate lacks of the parts the owner relies on;
:func:`issue` makes certificates to the profile (the simulator's test PKI,
``bridge.sim.testing.pki``). Chain and validity checks are ``bridge.ocf.mfg_trust``'s.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: OCF's extended key usage for identity certificates (manufacturer certificates included).
OCF_IDENTITY = x509.ObjectIdentifier("1.3.6.1.4.1.44924.1.6")
#: What the owner needs of the end-entity certificate to run the certificate suite as a
#: server: sign the key exchange, be meant for servers and for OCF identities.
REQUIRED_EKU = (ExtendedKeyUsageOID.SERVER_AUTH, OCF_IDENTITY)
#: What a device certificate made here carries.
DEVICE_EKU = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH, OCF_IDENTITY)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def profile_problem(certificate: x509.Certificate) -> str | None:
    """Why ``certificate`` is not an OCF manufacturer (end-entity) certificate the owner can
    rely on, or None when it is."""
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return "its key is not an EC P-256 key"
    extensions = certificate.extensions
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
        if constraints.ca:
            return "it is a CA certificate, not a device's"
    except x509.ExtensionNotFound:
        pass
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "it has no key usage"
    if not usage.digital_signature:
        return "its key usage lacks digitalSignature"
    try:
        purposes = list(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return "it has no extended key usage"
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in purposes:
        return "its extended key usage holds anyExtendedKeyUsage"
    missing = [oid.dotted_string for oid in REQUIRED_EKU if oid not in purposes]
    if missing:
        return f"its extended key usage lacks {', '.join(missing)}"
    return None


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(common_name: str, *, issuer: Issued | None, ca: bool,
          not_before: datetime.datetime, not_after: datetime.datetime,
          organisation: str = "ocfaj test PKI", path_length: int | None = None) -> Issued:
    """A certificate for a new P-256 key, signed by ``issuer`` (self-signed when None): a CA
    (``ca``: keyCertSign, cRLSign) or a device certificate to the OCF profile."""
    key = new_key()
    subject = _name(common_name, organisation)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer.certificate.subject if issuer else subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca
                                                    else None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = (builder
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=True,
                       key_cert_sign=False, crl_sign=False, encipher_only=False,
                       decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(list(DEVICE_EKU)), critical=False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False)
    signer = issuer.key if issuer is not None else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)
