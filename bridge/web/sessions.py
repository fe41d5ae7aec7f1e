"""Login sessions and CSRF tokens of the web page.

Layer: ``bridge.web`` (pure: no HTTP library). A login yields a random session token, which
the browser keeps in an ``HttpOnly`` cookie, and a CSRF token, which the page's script sends in
a header with every state-changing request. Only SHA-256 digests of session tokens are kept,
so a memory dump does not hand out logins. Without a password (loopback) one CSRF token serves
the whole process: a page of another origin can neither read it nor send the header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

#: Logins kept at once; the oldest is dropped beyond this (bounded memory).
MAX_SESSIONS = 64


@dataclass
class Session:
    csrf: str
    expires: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Who is logged in. ``lifetime`` is in seconds; the clock is monotonic."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        #: CSRF token of a page without password.
        self.open_csrf = secrets.token_urlsafe(32)
        self._by_digest: dict[str, Session] = {}

    def login(self) -> tuple[str, Session]:
        """A new session: its token (for the cookie) and the session (its CSRF token)."""
        now = time.monotonic()
        self._expire(now)
        while len(self._by_digest) >= MAX_SESSIONS:
            del self._by_digest[next(iter(self._by_digest))]
        token = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(32), now + self.lifetime)
        self._by_digest[_digest(token)] = session
        return token, session

    def find(self, token: str | None) -> Session | None:
        if not token:
            return None
        session = self._by_digest.get(_digest(token))
        if session is None:
            return None
        if session.expires <= time.monotonic():
            del self._by_digest[_digest(token)]
            return None
        return session

    def logout(self, token: str | None) -> None:
        if token:
            self._by_digest.pop(_digest(token), None)

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self._by_digest.items() if s.expires <= now]:
            del self._by_digest[key]


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
