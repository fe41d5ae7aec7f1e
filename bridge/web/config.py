"""The ``[web]`` section: whether the gateway serves its web page, where, and who may use it.

Layer: ``bridge.web`` (pure dataclass: no HTTP library import, so loading the configuration costs
nothing when the page is off). Its ``problems()`` refuses a page bound off loopback without a
password, so ``ocfaj check-config`` and ``ocfaj run`` both stop before anything starts.
:meth:`WebConfig.link` is the address other programs show people for the page (Home
Assistant's "Visit" link of each device).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bridge.web.passwords import hash_problem


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind_problem(value: str) -> str | None:
    if value == "localhost":
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "expected an IP address (127.0.0.1, ::1, 0.0.0.0, ::) or localhost"
    return None


def is_wildcard(host: str) -> bool:
    """True for the addresses that mean every interface (``0.0.0.0``, ``::``)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def _public_url_problem(value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// address with a host, e.g. http://gateway.lan:8080/"
    return None


def _hash_check(value: str) -> str | None:
    return hash_problem(value) if value else None


@dataclass(frozen=True)
class WebConfig:
    """The web page (needs the extra ``web``): every device, live, and control of it."""

    enabled: bool = False
    """Serve the web page. Off by default on ``ocfaj run``; ``ocfaj demo`` turns it on and
    prints its address."""

    bind: str = field(default="127.0.0.1", metadata={"check": _bind_problem})
    """Address the page listens on. The default, loopback, is reachable only from this
    machine. Any other address (``0.0.0.0`` for every interface) needs ``password_hash``: the
    gateway refuses to start without it."""

    port: int = field(default=8080, metadata={"ge": 0, "le": 65535})
    """TCP port of the page; 0 picks a free one (the log says which)."""

    password_hash: str = field(default="", repr=False,
                               metadata={"secret": True, "check": _hash_check})
    """Hash of the page's password, made by ``ocfaj web-password``: only from the secrets
    file (key ``web_password_hash``) or ``OCFAJ_WEB_PASSWORD_HASH``. The password itself is
    never stored. When set, the page asks for the password even on loopback."""

    session_lifetime: float = field(default=43200.0, metadata={"gt": 0})
    """Seconds a login stays valid (default 12 hours); the page asks again after that."""

    public_url: str = field(default="", metadata={"check": _public_url_problem})
    """Address people reach the page at from other machines (``http://gateway.lan:8080/``, or
    a TLS reverse proxy's ``https://...``), given to Home Assistant as each device's
    ``configuration_url``. Empty: the address the page is served on, except when ``bind`` is
    ``0.0.0.0`` or ``::`` (no address a person can use), where Home Assistant gets no link."""

    def problems(self) -> list[tuple[str, str]]:
        if self.enabled and not is_loopback(self.bind) and not self.password_hash:
            return [("bind", f"the web page on {self.bind} would be reachable from the "
                     "network without a password: set web_password_hash in the secrets file "
                     "(ocfaj web-password makes it) or bind to 127.0.0.1")]
        return []

    def link(self, served_url: str) -> str:
        """The page's address for people on other machines: ``public_url`` when set, else
        ``served_url`` (where the page listens, its real port) unless the page is bound to
        every interface; "" when there is none or the page is not served (``served_url``
        empty)."""
        if not self.enabled or not served_url:
            return ""
        if self.public_url:
            return self.public_url
        return "" if is_wildcard(self.bind) else served_url

    @property
    def auth_required(self) -> bool:
        return bool(self.password_hash)
