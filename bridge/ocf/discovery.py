"""Multicast ``GET /oic/res``: one socket per family and interface, every reply collected.

Layer: ``bridge.ocf`` I/O (plain UDP sockets; aiocoap only to encode and decode messages).
aiocoap's request API returns the first reply to a multicast request only, so discovery sends
and listens itself (PROTOCOL_FACTS.md interop list): requests are NON with distinct message
ids per datagram (a server drops a NON whose id it saw recently, whoever sent it), replies
arrive from each device's unicast port and may be CON (they are ACKed). A reply that carries
Block2 with more blocks is flagged; the caller fetches the whole ``/oic/res`` by unicast.
It must not interpret payloads beyond decoding them: that is ``bridge.ocf.links``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import random
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiocoap import ACK, CON, EMPTY, GET, NON, Message

from bridge.ocf import wire
from bridge.ocf.coap_messages import set_version
from bridge.ocf.links import Endpoint

log = logging.getLogger("ocfaj.ocf.discovery")


@dataclass(frozen=True)
class DiscoveryReply:
    """One device's answer to a discovery round."""

    payload: bytes
    content_format: int | None
    source: Endpoint
    interface: str
    more_blocks: bool


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, owner: MulticastDiscovery, interface: str, ipv6: bool) -> None:
        self.owner = owner
        self.interface = interface
        self.ipv6 = ipv6
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            message = Message.decode(data)
        except Exception:
            return  # not CoAP: ignore, as any CoAP endpoint would
        if message.mtype == CON and self.transport is not None:
            # Replies may come CON (interop list): ACK them or the device retransmits.
            ack = Message(code=EMPTY, mtype=ACK)
            ack.mid = message.mid
            self.transport.sendto(ack.encode(), addr)
        self.owner.received(self, message, addr)


class MulticastDiscovery:
    """Sends discovery rounds on ``interfaces`` and returns every reply within ``window``."""

    def __init__(self, interfaces: Sequence[str], *, ipv4: bool, ipv6_groups: Sequence[str],
                 window: float) -> None:
        self.interfaces = list(interfaces)
        self.ipv4 = ipv4
        self.ipv6_groups = list(ipv6_groups)
        self.window = window
        self._listeners: list[_Listener] = []
        self._mid = random.randrange(0x10000)
        self._token = b""
        self._replies: list[DiscoveryReply] = []
        self.datagrams_sent = 0

    async def start(self) -> None:
        if self._listeners:
            return
        loop = asyncio.get_running_loop()
        for name in self.interfaces:
            try:
                index = socket.if_nametoindex(name)
            except OSError:
                log.warning("OCF discovery: no interface %s, skipped", name)
                continue
            families = ([False] if self.ipv4 else []) + ([True] if self.ipv6_groups else [])
            for ipv6 in families:
                try:
                    sock = _socket(index, ipv6)
                except OSError as err:
                    log.warning("OCF discovery: cannot use %s over IPv%s: %s", name,
                                6 if ipv6 else 4, err)
                    continue
                _, protocol = await loop.create_datagram_endpoint(
                    functools.partial(_Listener, self, name, ipv6), sock=sock)
                self._listeners.append(protocol)

    async def shutdown(self) -> None:
        for listener in self._listeners:
            if listener.transport is not None:
                listener.transport.close()
        self._listeners.clear()

    def _next_mid(self) -> int:
        self._mid = (self._mid + 1) % 0x10000
        return self._mid

    async def round(self, query: Sequence[str] = ()) -> list[DiscoveryReply]:
        """One discovery round: send, wait ``window`` seconds, return what came back."""
        self._token = os.urandom(4)
        self._replies = []
        for listener in self._listeners:
            if listener.transport is None:
                continue
            groups = self.ipv6_groups if listener.ipv6 else [wire.MCAST_V4]
            for group in groups:
                message = Message(code=GET, uri_path=("oic", "res"),
                                  uri_query=tuple(query), accept=wire.CF_OCF_CBOR)
                message.mtype = NON
                set_version(message, wire.OPT_ACCEPT_VERSION)
                message.mid = self._next_mid()
                message.token = self._token
                index = socket.if_nametoindex(listener.interface)
                target: Any = ((group, wire.COAP_PORT, 0, index) if listener.ipv6
                               else (group, wire.COAP_PORT))
                try:
                    listener.transport.sendto(message.encode(), target)
                    self.datagrams_sent += 1
                except OSError as err:
                    log.debug("discovery to %s on %s failed: %s", group, listener.interface, err)
        await asyncio.sleep(self.window)
        replies, self._replies = self._replies, []
        return replies

    def received(self, listener: _Listener, message: Any, addr: Any) -> None:
        if message.token != self._token or not message.code.is_response():
            return
        if not message.code.is_successful():
            return
        host = str(addr[0])
        if listener.ipv6 and "%" not in host and ipaddress.ip_address(host).is_link_local:
            host = f"{host}%{listener.interface}"
        block2 = message.opt.block2
        cf = message.opt.content_format
        self._replies.append(DiscoveryReply(
            payload=bytes(message.payload), content_format=None if cf is None else int(cf),
            source=Endpoint("coap", host, int(addr[1])), interface=listener.interface,
            more_blocks=bool(block2 is not None and block2.more)))


def _socket(index: int, ipv6: bool) -> socket.socket:
    if ipv6:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.bind(("::", 0))
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # struct ip_mreqn: any group/address, the interface by index (Linux accepts it here).
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                        struct.pack("4s4si", bytes(4), bytes(4), index))
        sock.bind(("0.0.0.0", 0))
    sock.setblocking(False)
    return sock
