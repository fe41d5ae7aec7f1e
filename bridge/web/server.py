"""The web page's server: the page's routes on :mod:`bridge.web.http` at the configured address.

Layer: ``bridge.web``. The daemon constructs :class:`WebServer` only when ``[web] enabled``
is true (importing this module imports h11); :meth:`start` binds and serves,
:meth:`shutdown` closes every connection and is idempotent. The page's files
(``bridge/web/static/``, shipped in the wheel) are read once at start and served from memory:
no path from a request ever reaches the file system.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
from pathlib import Path
from typing import Any

from bridge.core.registry import Registry
from bridge.web.api import MAX_BODY, Api
from bridge.web.config import WebConfig, is_loopback
from bridge.web.facts import GatewayFacts
from bridge.web.http import HttpServer, Request, Response, Router, error_response
from bridge.web.live import LiveFeed
from bridge.web.logbuffer import RecentLog
from bridge.web.security import make_guard
from bridge.web.sessions import Sessions

log = logging.getLogger("ocfaj.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The page's files: everything the browser loads (its weight is checked by the tests).
PAGE_FILES = ("index.html", "app.js", "app.css")


def load_page_files(directory: Path = STATIC_DIR) -> dict[str, tuple[bytes, str]]:
    """File name -> (content, content type) of :data:`PAGE_FILES`."""
    files = {}
    for name in PAGE_FILES:
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        files[name] = ((directory / name).read_bytes(), f"{kind}; charset=utf-8")
    return files


class WebServer:
    """The page; see the module docstring."""

    def __init__(self, config: WebConfig, registry: Registry, facts: GatewayFacts) -> None:
        self.config = config
        self.registry = registry
        self.facts = facts
        self.sessions = Sessions(config.session_lifetime)
        self.recent = RecentLog()
        self.live = LiveFeed(registry.bus, facts)
        self.url = ""
        self._http: HttpServer | None = None
        self._files: dict[str, tuple[bytes, str]] = {}
        self._stopped = asyncio.Event()

    def router(self) -> Router:
        router = Router()
        api = Api(self.config, self.registry, self.facts, self.sessions, self.recent)
        for method, path, handler in [("GET", "/", self._index),
                                      ("GET", "/static/{name}", self._static),
                                      ("GET", "/api/events", self.live.handle),
                                      *api.routes()]:
            router.add(method, path, handler)
        return router

    async def start(self) -> None:
        self._stopped.clear()
        self._files = load_page_files()
        for own in ("ocfaj", "bridge"):
            logging.getLogger(own).addHandler(self.recent)
        self.live.start()
        http = HttpServer(make_guard(self.config, self.sessions, self.router()),
                          max_body=MAX_BODY)
        await http.start(self.config.bind, self.config.port)
        self._http = http
        host = f"[{self.config.bind}]" if ":" in self.config.bind else self.config.bind
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
        self.url = f"http://{host}:{http.port}/"
        log.info("web page at %s (%s%s)", self.url,
                 "loopback only" if is_loopback(self.config.bind) else
                 f"listening on {self.config.bind}",
                 ", password required" if self.config.auth_required else "")

    async def shutdown(self) -> None:
        self.live.shutdown()
        for own in ("ocfaj", "bridge"):
            logging.getLogger(own).removeHandler(self.recent)
        http, self._http = self._http, None
        if http is not None:
            await http.close()
        self._stopped.set()

    async def wait(self) -> None:
        await self._stopped.wait()

    def status(self) -> dict[str, Any]:
        return {"url": self.url, "pages_open": self.live.streams,
                "password": self.config.auth_required}

    async def _index(self, request: Request) -> Response:
        return self._file("index.html")

    async def _static(self, request: Request) -> Response:
        name = request.match_info["name"]
        if name not in self._files or name == "index.html":
            return error_response(404, "not_found", "no such file")
        return self._file(name)

    def _file(self, name: str) -> Response:
        body, kind = self._files[name]
        return Response(body=body, headers={"Content-Type": kind, "Cache-Control": "no-cache"})
