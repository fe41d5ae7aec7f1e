"""A small CoAP GET load generator on a raw UDP socket, so a server's capacity is what is measured.

Layer: benchmark tooling. aiocoap's client spends more CPU per request than a lean server
does to answer it (message objects, option parsing, token and exchange bookkeeping), so with
aiocoap as the client the benchmark measures the client. This generator builds one
confirmable GET per request by hand (RFC 7252 section 3: 4-byte header, a 4-byte token,
Uri-Path options), sends it on a plain asyncio datagram socket and matches the piggybacked
ACK by token. Every request gets a fresh message ID and token, so a server's deduplication
never answers from its cache. ``in_flight`` workers each keep one request outstanding; a
request unanswered within ``timeout`` seconds is counted as lost and sent again under a new
message ID. The client's own CPU time is reported, so a run shows whether the client or the
server was the limit.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass, field

CON_GET = 0x44  # version 1, type CON (0), token length 4
URI_PATH = 11
CODE_CONTENT = 0x45  # 2.05


def encode_path(path: str) -> bytes:
    """The Uri-Path options of ``path`` (first option, so the delta of the first is 11)."""
    out = bytearray()
    delta = URI_PATH
    for segment in (s.encode() for s in path.strip("/").split("/") if s):
        length = len(segment)
        d_nibble, d_ext = (delta, b"") if delta < 13 else (13, bytes([delta - 13]))
        if length < 13:
            l_nibble, l_ext = length, b""
        elif length < 269:
            l_nibble, l_ext = 13, bytes([length - 13])
        else:
            l_nibble, l_ext = 14, struct.pack("!H", length - 269)
        out += bytes([(d_nibble << 4) | l_nibble]) + d_ext + l_ext + segment
        delta = 0
    return bytes(out)


@dataclass
class LoadResult:
    """Latencies (ms) of answered requests, wall and client CPU seconds, losses, payload."""

    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    lost: int = 0
    errors: int = 0
    payload: bytes = b""


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.waiting: dict[bytes, asyncio.Future[tuple[int, bytes]]] = {}

    def datagram_received(self, data: bytes, addr: object) -> None:
        if len(data) < 4:
            return
        token = data[4:4 + (data[0] & 0x0F)]
        future = self.waiting.pop(token, None)
        if future is not None and not future.done():
            future.set_result((data[1], _payload(data)))


def _payload(data: bytes) -> bytes:
    """The payload after the options (RFC 7252 section 3.1 option encoding), or empty."""
    i = 4 + (data[0] & 0x0F)
    while i < len(data):
        head = data[i]
        if head == 0xFF:
            return data[i + 1:]
        i += 1
        for nibble in (head >> 4, head & 0x0F):
            if nibble == 13:
                i += 1
            elif nibble == 14:
                i += 2
        length = head & 0x0F
        if length == 13:
            length = data[i - 1] + 13
        elif length == 14:
            length = struct.unpack_from("!H", data, i - 2)[0] + 269
        i += length
    return b""


class CoapLoad:
    """GET ``path`` at ``host:port`` ``count`` times with ``in_flight`` requests outstanding."""

    def __init__(self, host: str, port: int, path: str, *, timeout: float = 2.0) -> None:
        self.address = (host, port)
        self.options = encode_path(path)
        self.timeout = timeout
        self._mid = 0
        self._token = 0

    def _message(self) -> tuple[bytes, bytes]:
        self._mid = (self._mid + 1) & 0xFFFF
        self._token = (self._token + 1) & 0xFFFFFFFF
        token = struct.pack("!I", self._token)
        return struct.pack("!BBH", CON_GET, 0x01, self._mid) + token + self.options, token

    async def run(self, count: int, in_flight: int = 1) -> LoadResult:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            _Protocol, remote_addr=self.address)
        result = LoadResult()
        remaining = count

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                while True:
                    message, token = self._message()
                    future: asyncio.Future[tuple[int, bytes]] = loop.create_future()
                    protocol.waiting[token] = future
                    began = time.perf_counter()
                    transport.sendto(message)
                    try:
                        code, payload = await asyncio.wait_for(future, self.timeout)
                    except TimeoutError:
                        protocol.waiting.pop(token, None)
                        result.lost += 1
                        continue
                    result.latencies_ms.append((time.perf_counter() - began) * 1000)
                    if code != CODE_CONTENT:
                        result.errors += 1
                    result.payload = payload
                    break

        cpu, wall = time.process_time(), time.perf_counter()
        try:
            await asyncio.gather(*(worker() for _ in range(in_flight)))
        finally:
            result.seconds = time.perf_counter() - wall
            result.client_cpu_seconds = time.process_time() - cpu
            transport.close()
        return result
