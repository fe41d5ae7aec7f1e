"""Keys of OCF security: the Random PIN PSK and the owner PSK (pure functions).

Layer: ``bridge.ocf`` pure (hashlib/hmac only, no sockets, no DTLS library). Both devices of
an ownership transfer compute the same keys from the same inputs (docs/security.md, "Keys"):

- Random PIN: PBKDF2-HMAC-SHA256 of the ASCII PIN, salted with the 16 raw bytes of the device
  uuid the device showed in ``/oic/sec/doxm`` before the transfer, 1,000 iterations, 16 bytes.
- Owner PSK: the TLS 1.2 key block of the ownership session (RFC 5246 section 6.3: PRF-SHA256
  of the master secret, label "key expansion", server random then client random), then the
  same PRF of that block with the transfer method's name as label and owner uuid then device
  uuid as seed; its first 16 bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

PIN_ITERATIONS = 1000
PSK_LENGTH = 16
#: The labels of the ownership transfer methods (``oxmsel`` 0, 1, 2).
OXM_LABELS = {0: b"oic.sec.doxm.jw", 1: b"oic.sec.doxm.rdp", 2: b"oic.sec.doxm.mfgcert"}
#: Key block lengths (RFC 5246 6.3): 2 MAC keys, 2 cipher keys, 2 IVs for the CBC-SHA256
#: suite; 2 keys and 2 implicit nonces for AES-128-CCM.
KEY_BLOCK_LENGTH = {"ECDHE-PSK-AES128-CBC-SHA256": 96, "ECDHE-ECDSA-AES128-CCM8": 40}


def pin_psk(pin: str, device_uuid: uuid.UUID) -> bytes:
    """The Random PIN method's PSK for ``pin`` and the device's pre-transfer uuid."""
    return hashlib.pbkdf2_hmac("sha256", pin.encode("ascii"), device_uuid.bytes,
                               PIN_ITERATIONS, PSK_LENGTH)


def prf_sha256(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """TLS 1.2 PRF with SHA-256: P_SHA256(secret, label + seed) (RFC 5246 section 5)."""
    seed = label + seed
    out = b""
    a = seed
    while len(out) < length:
        a = hmac.new(secret, a, hashlib.sha256).digest()
        out += hmac.new(secret, a + seed, hashlib.sha256).digest()
    return out[:length]


def key_block(master: bytes, client_random: bytes, server_random: bytes, cipher: str) -> bytes:
    try:
        length = KEY_BLOCK_LENGTH[cipher]
    except KeyError:
        raise ValueError(f"no OCF key block length for cipher {cipher}") from None
    return prf_sha256(master, b"key expansion", server_random + client_random, length)


def owner_psk(block: bytes, oxm: int, owner: uuid.UUID, device: uuid.UUID) -> bytes:
    """The owner PSK both sides derive from the ownership session's key block."""
    return prf_sha256(block, OXM_LABELS[oxm], owner.bytes + device.bytes, PSK_LENGTH)


def nul_free_uuid() -> uuid.UUID:
    """A random uuid without a zero byte: OpenSSL carries PSK identities and hints as C
    strings (``bridge.ocf.dtls_lib``), so the uuids the gateway chooses avoid byte 0."""
    while True:
        candidate = uuid.uuid4()
        if b"\0" not in candidate.bytes:
            return candidate
