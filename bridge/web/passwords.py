"""Password hashes of the web page: scrypt, salted, in one self-describing line.

Layer: ``bridge.web`` (pure: :mod:`hashlib` only). The secrets file holds
``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash in URL-safe base64), never the password;
:func:`verify` compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 16384, 8, 1
_LENGTH = 32
#: scrypt needs 128 * n * r bytes; this bound admits the parameters below with some room.
_MAXMEM = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_hash(password: str) -> str:
    """A new salted scrypt hash line for ``password``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM,
                            dklen=_LENGTH)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def _parse(line: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, n, r, p, salt, digest = line.split("$")
    if scheme != "scrypt":
        raise ValueError(scheme)
    values = int(n), int(r), int(p)
    if not (1 < values[0] <= 1 << 20 and values[0] & (values[0] - 1) == 0
            and 0 < values[1] <= 32 and 0 < values[2] <= 16):
        raise ValueError("parameters")
    return (*values, _unb64(salt), _unb64(digest))


def hash_problem(line: str) -> str | None:
    """What is wrong with a hash line (for the configuration), or None."""
    try:
        _, _, _, salt, digest = _parse(line)
    except ValueError:
        return "expected a hash made by ocfaj web-password (scrypt$...), not a password"
    if len(salt) < 8 or len(digest) < 16:
        return "the hash is truncated: make it again with ocfaj web-password"
    return None


def verify(password: str, line: str) -> bool:
    """True when ``password`` matches the hash line (False for a malformed line)."""
    try:
        n, r, p, salt, digest = _parse(line)
    except ValueError:
        return False
    candidate = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM,
                               dklen=len(digest))
    return hmac.compare_digest(candidate, digest)
