"""The page's HTTP layer (``bridge.web.http``) against raw bytes on a real loopback socket:
what a broken or hostile client gets, and that everyone else is still served."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from bridge.sim.testing.procs import await_until
from bridge.web import http
from bridge.web.http import HttpServer, Request, Response, Router, json_response


async def _hello(request: Request) -> Response:
    return json_response({"path": request.path, "query": request.query,
                          "agent": request.headers.get("USER-AGENT"),
                          "body": request.body.decode()})


async def _ticks(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"tick {i}\n".encode()
            await asyncio.sleep(0)
    return Response(headers={"Content-Type": "text/plain"}, stream=chunks())


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    router = Router()
    router.add("GET", "/hello/{name}", _hello)
    router.add("POST", "/hello/{name}", _hello)
    router.add("GET", "/ticks", _ticks)

    async def dispatch(request: Request) -> Response:
        handler = router.resolve(request)
        return handler if isinstance(handler, Response) else await handler(request)

    served = HttpServer(dispatch, max_body=1024, max_connections=4)
    await served.start("127.0.0.1", 0)
    yield served
    await served.close()


async def exchange(server: HttpServer, data: bytes) -> bytes:
    """Send ``data``, read until the server closes (every request here asks it to)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]


async def get_ok(server: HttpServer) -> None:
    answer = await exchange(server, b"GET /hello/x HTTP/1.1\r\nHost: h\r\n"
                                    b"Connection: close\r\n\r\n")
    assert status_of(answer) == 200, answer


async def test_a_request_is_parsed_and_answered(server: HttpServer) -> None:
    answer = await exchange(server, b"POST /hello/w%C3%BC?a=1&b=two HTTP/1.1\r\nHost: h\r\n"
                                    b"User-Agent: t\r\nContent-Length: 3\r\n"
                                    b"Connection: close\r\n\r\nabc")
    assert status_of(answer) == 200, answer
    assert json.loads(body_of(answer)) == {"path": "/hello/w%C3%BC", "query": {
        "a": "1", "b": "two"}, "agent": "t", "body": "abc"}


@pytest.mark.parametrize("data", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",  # no Host
    b"GET /hello/x HTTP/1.1\r\nHost: h\r\nContent-Length: zz\r\n\r\n",
    b"GET /hello/x HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n",
    b"GET /hello/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
async def test_a_malformed_request_gets_400_and_the_server_goes_on(
        server: HttpServer, data: bytes) -> None:
    answer = await exchange(server, data)
    assert status_of(answer) == 400, answer
    assert json.loads(body_of(answer))["error"] == "bad_request"
    await get_ok(server)


async def test_a_body_over_the_limit_gets_413(server: HttpServer) -> None:
    declared = await exchange(server, b"POST /hello/x HTTP/1.1\r\nHost: h\r\n"
                                      b"Content-Length: 5000\r\n\r\n")
    assert status_of(declared) == 413, declared
    chunked = await exchange(server, b"POST /hello/x HTTP/1.1\r\nHost: h\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n"
                                     + b"400\r\n" + b"a" * 1024 + b"\r\n"
                                     + b"400\r\n" + b"a" * 1024 + b"\r\n0\r\n\r\n")
    assert status_of(chunked) == 413, chunked
    await get_ok(server)


async def test_a_head_over_the_limit_is_refused(server: HttpServer) -> None:
    answer = await exchange(server, b"GET /hello/x HTTP/1.1\r\nHost: h\r\nX: "
                            + b"a" * (http.MAX_HEAD + 10) + b"\r\n\r\n")
    assert status_of(answer) in (400, 431), answer
    await get_ok(server)


async def test_unknown_paths_and_methods(server: HttpServer) -> None:
    missing = await exchange(server, b"GET /nope HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert status_of(missing) == 404
    wrong = await exchange(server, b"DELETE /hello/x HTTP/1.1\r\nHost: h\r\n"
                                   b"Connection: close\r\n\r\n")
    assert status_of(wrong) == 405
    assert b"\r\nallow: get, post\r\n" in wrong.lower()
    head = await exchange(server, b"HEAD /hello/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert status_of(head) == 200 and body_of(head) == b""


async def test_keep_alive_and_pipelined_requests(server: HttpServer) -> None:
    answer = await exchange(server, b"GET /hello/a HTTP/1.1\r\nHost: h\r\n\r\n"
                                    b"GET /ticks HTTP/1.1\r\nHost: h\r\n\r\n"
                                    b"GET /hello/c HTTP/1.1\r\nHost: h\r\n"
                                    b"Connection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 ") == 3, answer
    assert b'"path": "/hello/a"' in answer and b'"path": "/hello/c"' in answer
    assert b"tick 0\n" in answer and b"tick 2\n" in answer


async def test_a_streamed_response_is_chunked(server: HttpServer) -> None:
    answer = await exchange(server, b"GET /ticks HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    assert b"transfer-encoding: chunked" in answer.lower()
    assert body_of(answer) == b"7\r\ntick 0\n\r\n7\r\ntick 1\n\r\n7\r\ntick 2\n\r\n0\r\n\r\n"


async def test_connections_beyond_the_limit_get_503(server: HttpServer) -> None:
    idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(4)]
    # The four idle ones are accepted (the server waits for their heads)...
    await await_until(lambda: server.connections == 4, message="four connections accepted")
    answer = await exchange(server, b"GET /hello/x HTTP/1.1\r\nHost: h\r\n\r\n")
    assert status_of(answer) == 503, answer
    for _, writer in idle:
        writer.close()
    # ...and once they are gone, everyone is served again.
    await await_until(lambda: server.connections == 0, message="the idle connections closed")
    await get_ok(server)


async def test_a_client_that_sends_nothing_is_dropped(server: HttpServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "HEAD_TIMEOUT", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /hel")  # a head that never ends
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 30) == b""
    writer.close()
    await get_ok(server)
