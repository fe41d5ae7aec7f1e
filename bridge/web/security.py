"""The page's guard: security headers, Host and Origin checks, login and CSRF.

Layer: ``bridge.web`` (wraps the request dispatch of :mod:`bridge.web.http`). Every response
carries headers that forbid framing, sniffing, referrers and any script or connection not of
this origin. Requests are refused, in order:

- a ``Host`` that is not a loopback name when the page runs without password (a page of
  another site reached through DNS rebinding would otherwise talk to it);
- without a valid session cookie when a password is configured (the page itself, its files,
  ``/api/session`` and ``/api/login`` stay open so the login form can load);
- a state-changing request (anything but GET/HEAD) whose ``Origin`` is not this page's, or
  without the CSRF token in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import logging

from bridge.web.config import WebConfig, is_loopback
from bridge.web.http import Handler, Request, Response, Router, error_response
from bridge.web.sessions import Sessions, same_token

log = logging.getLogger("ocfaj.web")

COOKIE = "ocfaj_session"
CSRF_HEADER = "X-CSRF-Token"
#: What a browser may do with the page: only its own scripts, styles and connections.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
#: Reachable without a login: the page and its files, the session probe and the login.
OPEN_PATHS = frozenset({"/", "/api/session", "/api/login", "/favicon.ico"})
SAFE_METHODS = frozenset({"GET", "HEAD"})

_refuse = error_response


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def make_guard(config: WebConfig, sessions: Sessions, router: Router) -> Handler:
    """The server's dispatch: the checks above, then the route's handler, then the headers."""

    async def guard(request: Request) -> Response:
        refusal = _check(request, config, sessions)
        if refusal is not None:
            response = refusal
        else:
            handler = router.resolve(request)
            response = handler if isinstance(handler, Response) else await handler(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return guard


def _check(request: Request, config: WebConfig, sessions: Sessions) -> Response | None:
    if not config.auth_required and not is_loopback(_host_name(request.host)):
        log.warning("web: refused a request for host %r from %s: without a password the page "
                    "answers only to loopback names", request.host, request.remote)
        return _refuse(421, "wrong_host", "this page answers only to localhost")
    session = sessions.find(request.cookies.get(COOKIE))
    if config.auth_required:
        open_path = request.path in OPEN_PATHS or request.path.startswith("/static/")
        if session is None and not open_path:
            return _refuse(401, "login_required", "log in first")
    if request.method in SAFE_METHODS:
        return None
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        log.warning("web: refused a %s %s from another origin (%s)", request.method,
                    request.path, origin)
        return _refuse(403, "cross_origin", "requests from other sites are refused")
    if request.path == "/api/login":
        return None
    expected = session.csrf if session is not None else sessions.open_csrf
    if config.auth_required and session is None:
        return _refuse(401, "login_required", "log in first")
    if not same_token(request.headers.get(CSRF_HEADER), expected):
        return _refuse(403, "csrf", "missing or wrong CSRF token: reload the page")
    return None
