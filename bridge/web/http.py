"""The page's HTTP/1.1 server: h11's protocol state machine on asyncio streams.

Layer: ``bridge.web`` (the only importer of ``h11``). h11 parses and checks every byte of
the protocol (request line, headers, framing, chunked bodies, keep-alive); this module only
moves bytes between it and a socket, bounds what a client may cost, and hands each complete
request to one ``dispatch`` coroutine:

- a request's head is at most :data:`MAX_HEAD` bytes and must arrive within
  :data:`HEAD_TIMEOUT` seconds (a client that trickles bytes is cut off); its body at most
  ``max_body`` bytes (413 beyond); an idle keep-alive connection is closed after
  :data:`IDLE_TIMEOUT` seconds; at most ``max_connections`` connections are served at once
  (503 for the others);
- a :class:`Response` has a body of bytes or an async iterator of byte chunks (sent chunked:
  the device list, the event stream); a streamed response ends when its iterator does or when
  the client goes away, whichever is first;
- a malformed request gets h11's reason as 400 and the connection is closed; the server goes
  on serving everyone else.

Why not aiohttp, which served the page before: its import alone costs about 11 MiB, more
than twice the page's memory budget (docs/benchmarks.md, "The web page"); h11 costs under
1 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import h11

log = logging.getLogger("ocfaj.web")

#: Largest request line plus headers, in bytes.
MAX_HEAD = 16 * 1024
#: Seconds a request's head (and then its body) may take to arrive.
HEAD_TIMEOUT = 10.0
#: Seconds an idle keep-alive connection stays open.
IDLE_TIMEOUT = 60.0
#: Bytes read from the socket at a time.
READ_SIZE = 64 * 1024
SERVER = b"ocfaj"


class Headers(dict[str, str]):
    """Request headers by lower-case name; looked up in any case."""

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


@dataclass
class Request:
    """One complete request (the body already read)."""

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    """A repeated header's values joined with ``, ``."""
    body: bytes
    remote: str
    match_info: dict[str, str] = field(default_factory=dict)
    scheme: str = "http"

    @property
    def host(self) -> str:
        return self.headers.get("host") or ""

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    @property
    def content_length(self) -> int | None:
        text = self.headers.get("content-length")
        return int(text) if text is not None and text.isdigit() else None

    @property
    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        with contextlib.suppress(CookieError):
            jar.load(self.headers.get("cookie") or "")
        return {name: morsel.value for name, morsel in jar.items()}

    def json(self) -> Any:
        """The body as JSON (``ValueError`` or ``UnicodeDecodeError`` when it is not)."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    """What a handler answers: ``body`` bytes, or ``stream`` chunks sent as they come."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None

    def set_cookie(self, name: str, value: str, *, max_age: int, secure: bool = False,
                   path: str = "/") -> None:
        """An ``HttpOnly``, ``SameSite=Strict`` cookie (the only kind the page sets)."""
        parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly",
                 "SameSite=Strict"]
        if secure:
            parts.append("Secure")
        self.headers["Set-Cookie"] = "; ".join(parts)

    def del_cookie(self, name: str, path: str = "/") -> None:
        self.headers["Set-Cookie"] = (f"{name}=; Path={path}; Max-Age=0; HttpOnly; "
                                      "SameSite=Strict")


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, {"Content-Type": "application/json; charset=utf-8"},
                    json.dumps(data).encode())


def error_response(status: int, reason: str, message: str) -> Response:
    """The page's error form: ``{"error": reason, "message": text}``."""
    return json_response({"error": reason, "message": message}, status)


Handler = Callable[[Request], Awaitable[Response]]


class Router:
    """Method and path pattern -> handler; ``{name}`` matches one path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, tuple[str, ...], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, tuple(pattern.strip("/").split("/")), handler))

    def resolve(self, request: Request) -> Handler | Response:
        """The handler (with ``request.match_info`` filled), or a 404/405 answer."""
        segments = tuple(unquote(s) for s in request.path.strip("/").split("/"))
        allowed: list[str] = []
        for method, pattern, handler in self._routes:
            match = _match(pattern, segments)
            if match is None:
                continue
            if method == request.method or (method == "GET" and request.method == "HEAD"):
                request.match_info = match
                return handler
            allowed.append(method)
        if allowed:
            answer = error_response(405, "method_not_allowed",
                                    f"{request.method} is not allowed here")
            answer.headers["Allow"] = ", ".join(sorted(set(allowed)))
            return answer
        return error_response(404, "not_found", "no such page")


def _match(pattern: tuple[str, ...], segments: tuple[str, ...]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    found: dict[str, str] = {}
    for want, got in zip(pattern, segments, strict=True):
        if want.startswith("{") and want.endswith("}"):
            if not got:
                return None
            found[want[1:-1]] = got
        elif want != got:
            return None
    return found


class HttpServer:
    """Serves ``dispatch`` on ``host``:``port``; see the module docstring."""

    def __init__(self, dispatch: Handler, *, max_body: int, max_connections: int = 64) -> None:
        self.dispatch = dispatch
        self.max_body = max_body
        self.max_connections = max_connections
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._tasks)

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port,
                                                  reuse_address=True, limit=READ_SIZE)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and end every connection (open event streams included)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            busy = len(self._tasks) > self.max_connections
            await _Connection(self, reader, writer).serve(busy)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception:
            log.exception("web: a connection failed")
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


class _Connection:
    def __init__(self, server: HttpServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        peer = writer.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) and peer else ""

    async def serve(self, busy: bool) -> None:
        first = True
        while True:
            try:
                request = await self._read_request(HEAD_TIMEOUT if first else IDLE_TIMEOUT)
            except _Refused as refused:
                await self._refuse(refused.response)
                return
            if request is None:
                return
            first = False
            if busy:
                await self._send(request, error_response(503, "busy", "too many connections"),
                                 close=True)
                return
            try:
                response = await self.server.dispatch(request)
            except Exception:
                log.exception("web: %s %s failed", request.method, request.path)
                response = error_response(500, "error", "internal error (see the log)")
            await self._send(request, response)
            if self.h11.our_state is h11.MUST_CLOSE or self.h11.their_state is h11.MUST_CLOSE:
                return
            try:
                self.h11.start_next_cycle()
            except h11.LocalProtocolError:
                return

    async def _next_event(self, wait: float) -> Any:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as err:
                raise _Refused(error_response(err.error_status_hint, "bad_request",
                                              f"malformed request: {err}")) from err
            if event is not h11.NEED_DATA:
                return event
            data = await asyncio.wait_for(self.reader.read(READ_SIZE), wait)
            self.h11.receive_data(data)

    async def _read_request(self, wait: float) -> Request | None:
        try:
            event = await self._next_event(wait)
        except TimeoutError:
            return None
        if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None
        if not isinstance(event, h11.Request):
            raise _Refused(error_response(400, "bad_request", "expected a request"))
        size = len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
        if size > MAX_HEAD:
            # h11 bounds a head that arrives in pieces; one that came in a single read is
            # bounded here.
            raise _Refused(error_response(431, "too_large",
                                          f"request head over {MAX_HEAD} bytes"))
        headers = Headers()
        for name, value in event.headers:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        declared = headers.get("content-length") or ""
        if declared.isdigit() and int(declared) > self.server.max_body:
            raise _Refused(error_response(413, "too_large",
                                          f"request body over {self.server.max_body} bytes"))
        body = bytearray()
        while True:
            part = await self._next_event(HEAD_TIMEOUT)
            if isinstance(part, h11.Data):
                body += part.data
                if len(body) > self.server.max_body:
                    raise _Refused(error_response(
                        413, "too_large", f"request body over {self.server.max_body} bytes"))
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                return None
        target = urlsplit(event.target.decode("latin-1"))
        return Request(method=event.method.decode("ascii"), path=target.path or "/",
                       query=dict(parse_qsl(target.query)), headers=headers,
                       body=bytes(body), remote=self.remote)

    async def _refuse(self, response: Response) -> None:
        """Answer a request that could not be read, then close (if h11 still lets us)."""
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(h11.LocalProtocolError):
                await self._send(None, response, close=True)

    async def _send(self, request: Request | None, response: Response, *,
                    close: bool = False) -> None:
        headers = [(b"Server", SERVER)]
        headers += [(k.encode("latin-1"), v.encode("latin-1"))
                    for k, v in response.headers.items()]
        if close:
            headers.append((b"Connection", b"close"))
        head = request is not None and request.method == "HEAD"
        if response.stream is None:
            headers.append((b"Content-Length", str(len(response.body)).encode()))
        try:
            reason = HTTPStatus(response.status).phrase.encode()
        except ValueError:
            reason = b""
        self._write(h11.Response(status_code=response.status, headers=headers,
                                 reason=reason))
        if response.stream is not None and not head:
            await self._stream(response.stream)
        elif response.body and not head:
            self._write(h11.Data(data=response.body))
        self._write(h11.EndOfMessage())
        await self.writer.drain()

    async def _stream(self, chunks: AsyncIterator[bytes]) -> None:
        """Send ``chunks`` until they end or the client goes away (its EOF ends them).
        Bytes the client sends meanwhile (a pipelined request) are kept for h11."""
        gone = asyncio.ensure_future(self.reader.read(READ_SIZE))
        step: asyncio.Future[bytes] | None = None
        try:
            while True:
                if step is None:
                    step = asyncio.ensure_future(anext(chunks))
                done, _ = await asyncio.wait({step, gone}, return_when=asyncio.FIRST_COMPLETED)
                if gone in done:
                    data = gone.result()
                    if not data:
                        raise ConnectionResetError("the client went away")
                    self.h11.receive_data(data)
                    gone = asyncio.ensure_future(self.reader.read(READ_SIZE))
                if step not in done:
                    continue
                try:
                    chunk = step.result()
                except StopAsyncIteration:
                    return
                step = None
                if chunk:
                    self._write(h11.Data(data=chunk))
                    await self.writer.drain()
        finally:
            for pending in (step, gone):
                if pending is not None and not pending.done():
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def _write(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response
