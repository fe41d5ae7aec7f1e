"""The OCF client of the end-to-end tests: the test process on ``ocfbr0`` (169.254.0.1).

Multicast discovery uses a raw UDP socket and cbor2, because aiocoap hands back only the first
reply to a multicast request and these tests need every device's answer (the gateway's and each
simulator's). A reply that arrives block-wise (``/oic/res`` over 1024 bytes) is fetched whole by
unicast (docs/ocf.md, "Interoperability"). Unicast requests and observations use aiocoap, OCF
options (Accept 10000, OCF-Accept-Content-Format-Version 2048).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import cbor2
from aiocoap import GET, NON, Context, Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type
from aiocoap.optiontypes import UintOption

OCF_CBOR = 10000
ACCEPT_VERSION = 2049
CONTENT_VERSION = 2053
OCF_1_0 = 2048
MCAST_V4 = "224.0.1.187"
LOCAL_V4 = "169.254.0.1"

_mids = itertools.count(int.from_bytes(os.urandom(2), "big") % 0x8000 + 0x4000)


def _next_mid() -> int:
    return next(_mids) & 0xFFFF


@dataclass
class Device:
    """One OCF device as multicast ``/oic/res`` showed it: its ``di`` and links."""

    di: str
    links: list[dict[str, Any]] = field(default_factory=list)

    def link(self, rt: str) -> dict[str, Any] | None:
        return next((link for link in self.links if rt in link.get("rt", [])), None)

    def uri(self, rt: str) -> str:
        """``coap://host:port/href`` of the first link with resource type ``rt`` (IPv4)."""
        link = self.link(rt)
        assert link is not None, f"device {self.di} has no {rt} link: {self.links}"
        eps = [ep["ep"] for ep in link.get("eps", []) if ep["ep"].startswith("coap://")]
        assert eps, f"link {link} has no coap:// endpoint"
        return f"{eps[0]}{link['href']}"

    @property
    def base(self) -> str:
        """``coap://host:port`` of the device (from any link with an endpoint)."""
        for link in self.links:
            for ep in link.get("eps", []):
                if ep["ep"].startswith("coap://"):
                    return str(ep["ep"])
        raise AssertionError(f"device {self.di} lists no coap:// endpoint: {self.links}")


def _discovery_datagram(mid: int, token: bytes) -> bytes:
    # Raw datagram: type, id and token are ours to set (aiocoap's request API would pick them).
    msg = Message(code=GET, uri_path=("oic", "res"))
    msg.mtype, msg.mid, msg.token = NON, mid, token
    msg.opt.accept = OCF_CBOR
    msg.opt.add_option(UintOption(ACCEPT_VERSION, OCF_1_0))
    encoded: bytes = msg.encode()
    return encoded


async def discover(ctx: Context, window: float = 1.5) -> dict[str, Device]:
    """Multicast ``GET /oic/res`` on 224.0.1.187 from ocfbr0; every device by ``di``."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCAL_V4, 0))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOCAL_V4))
    sock.setblocking(False)
    token = os.urandom(4)
    payloads: list[tuple[Any, tuple[str, int]]] = []
    with sock:
        await loop.sock_sendto(sock, _discovery_datagram(_next_mid(), token), (MCAST_V4, 5683))
        deadline = loop.time() + window
        while (left := deadline - loop.time()) > 0:
            try:
                data, peer = await asyncio.wait_for(loop.sock_recvfrom(sock, 4096), left)
            except TimeoutError:
                break
            reply = Message.decode(data)
            if reply.mtype == Type.CON:
                ack = Message(code=Code.EMPTY)
                ack.mtype, ack.mid = Type.ACK, reply.mid
                await loop.sock_sendto(sock, ack.encode(), peer)
            if reply.token != token or not reply.code.is_successful():
                continue
            if reply.opt.block2 is not None and reply.opt.block2.more:
                whole = await request(ctx, "GET", f"coap://{peer[0]}:{peer[1]}/oic/res")
                payloads.append((cbor2.loads(whole.payload), peer))
            else:
                payloads.append((cbor2.loads(reply.payload), peer))
    devices: dict[str, Device] = {}
    for links, _peer in payloads:
        for link in links if isinstance(links, list) else []:
            anchor = str(link.get("anchor", ""))
            di = anchor.removeprefix("ocf://")
            devices.setdefault(di, Device(di)).links.append(link)
    return devices


def ocf_message(method: str, uri: str, payload: Any = None, *,
                observe: int | None = None) -> Message:
    msg = Message(code=Code[method], uri=uri)
    msg.opt.accept = OCF_CBOR
    msg.opt.add_option(UintOption(ACCEPT_VERSION, OCF_1_0))
    if payload is not None:
        msg.payload = cbor2.dumps(payload)
        msg.opt.content_format = OCF_CBOR
        msg.opt.add_option(UintOption(CONTENT_VERSION, OCF_1_0))
    if observe is not None:
        msg.opt.observe = observe
    return msg


async def request(ctx: Context, method: str, uri: str, payload: Any = None,
                  within: float = 10.0) -> Any:
    """One unicast OCF request; returns aiocoap's response message."""
    async with asyncio.timeout(within):
        return await ctx.request(ocf_message(method, uri, payload)).response


def body(response: Any) -> Any:
    assert response.code.is_successful(), (str(response.code), response.payload)
    return cbor2.loads(response.payload) if response.payload else None


def dotted(response: Any) -> str:
    return str(response.code.dotted)


class Observation:
    """A running RFC 7641 observation: the first answer, then notifications as they come."""

    def __init__(self, ctx: Context, uri: str) -> None:
        self._request = ctx.request(ocf_message("GET", uri, observe=0))
        self.first: Any = None
        self._notes: AsyncIterator[Any] | None = None

    async def start(self, within: float = 10.0) -> Any:
        async with asyncio.timeout(within):
            self.first = await self._request.response
        self._notes = aiter(self._request.observation)
        return cbor2.loads(self.first.payload)

    async def next(self, within: float = 10.0) -> Any:
        """The payload of the next notification (decoded)."""
        assert self._notes is not None
        async with asyncio.timeout(within):
            note = await anext(self._notes)
        return cbor2.loads(note.payload)

    async def until(self, wanted: dict[str, Any], within: float = 10.0) -> Any:
        """Notifications until one carries every item of ``wanted``; returns it."""
        seen: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no notification with {wanted}; saw {seen}")
            try:
                value = await self.next(left)
            except TimeoutError:
                continue
            seen.append(value)
            if isinstance(value, dict) and all(value.get(k) == v for k, v in wanted.items()):
                return value

    def cancel(self) -> None:
        with contextlib.suppress(Exception):
            self._request.observation.cancel()
