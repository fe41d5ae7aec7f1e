"""Multicast ``GET /oic/res``: one socket per family and interface, every reply collected.

Layer: ``bridge.ocf`` I/O (plain UDP sockets; aiocoap only to encode and decode messages).
aiocoap's request API returns the first reply to a multicast request only, so discovery sends
and listens itself (docs/ocf.md, "Interoperability"): requests are NON with distinct message
ids per datagram (a server drops a NON whose id it saw recently, whoever sent it), replies
arrive from each device's unicast port and may be CON (they are ACKed). A reply that carries
Block2 with more blocks is completed at once from the same socket
(:mod:`bridge.ocf.block_transfer`): a device keeps an unfinished transfer per client endpoint
and ignores that endpoint's multicast requests meanwhile. A socket whose transfer failed all
the same is replaced by a fresh one (a new source port) before the next round. Each socket
asks for a receive buffer that holds the burst of replies one request brings
(:mod:`bridge.ocf.receive_buffer`).
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiocoap import GET, Message

from bridge.core.errors import DeviceError
from bridge.ocf import wire
from bridge.ocf.block_transfer import BlockTransfers
from bridge.ocf.coap_messages import CON, NON, Header, datagram, empty_ack, header_of, set_version
from bridge.ocf.links import Endpoint, Link, parse_res
from bridge.ocf.receive_buffer import drops, enlarge

log = logging.getLogger("ocfaj.ocf.discovery")


@dataclass(frozen=True)
class DiscoveryReply:
    """One device's answer to a discovery round (the whole listing, also when block-wise)."""

    payload: bytes
    content_format: int | None
    source: Endpoint
    interface: str
    #: the listing came block-wise and was completed on the discovery socket.
    blockwise: bool = False
    _links: list[Link] | wire.PayloadError | None = field(
        default=None, init=False, repr=False, compare=False)

    def links(self) -> list[Link]:
        """The links of the listing (``parse_res`` of the decoded payload), decoded once
        however often they are asked for: a reply is read as it arrives and again when its
        round ends. Raises ``wire.PayloadError`` (each time) for a payload that is no CBOR
        listing."""
        links = self._links
        if links is None:
            try:
                links = parse_res(wire.decode(self.payload), self.source)
            except wire.PayloadError as err:
                links = err
            object.__setattr__(self, "_links", links)  # a cache, not the reply's value
        if isinstance(links, wire.PayloadError):
            raise links
        return links


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, owner: MulticastDiscovery, interface: str, ipv6: bool) -> None:
        self.owner = owner
        self.interface = interface
        self.ipv6 = ipv6
        self.transport: asyncio.DatagramTransport | None = None
        self.blocks = BlockTransfers(self._send, owner.next_mid, owner.block_timeout)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def _send(self, data: bytes, target: Any) -> None:
        if self.transport is not None:
            self.transport.sendto(data, target)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            header = header_of(data)
            message = Message.decode(data)
        except Exception:
            return  # not CoAP: ignore, as any CoAP endpoint would
        if header.mtype == CON and self.transport is not None:
            # Replies may come CON (interop list): ACK them or the device retransmits.
            self.transport.sendto(empty_ack(header.mid), addr)
        if not self.blocks.received(header, message):
            self.owner.received(self, header, message, addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class MulticastDiscovery:
    """Sends discovery rounds on ``interfaces`` and returns every reply within ``window``.

    ``listing_limit`` bounds a block-wise listing, ``block_timeout`` the completion of one.
    """

    def __init__(self, interfaces: Sequence[str], *, ipv4: bool, ipv6_groups: Sequence[str],
                 window: float, listing_limit: int = 8 * 1024 * 1024,
                 block_timeout: float = 5.0,
                 own: Callable[[str, int], bool] = lambda _host, _port: False,
                 on_reply: Callable[[DiscoveryReply], None] | None = None) -> None:
        self.interfaces = list(interfaces)
        #: called with each reply of a round as it arrives (a block-wise one once complete),
        #: before the round ends: the caller need not wait for the window to act on it.
        self.on_reply = on_reply
        #: True for the gateway's own listener (host with its zone, port): its reply, the
        #: listing of every virtual device (hundreds of blocks with many), is not fetched.
        self.own = own
        self.ipv4 = ipv4
        self.ipv6_groups = list(ipv6_groups)
        self.window = window
        self.listing_limit = listing_limit
        self.block_timeout = block_timeout
        self._listeners: list[_Listener] = []
        #: listeners whose block-wise transfer failed: replaced before the next round.
        self._stale: set[_Listener] = set()
        self._mid = random.randrange(0x10000)
        self._token = b""
        self._query: tuple[str, ...] = ()
        self._replies: list[DiscoveryReply] = []
        self._completing: set[asyncio.Task[None]] = set()
        self.datagrams_sent = 0
        #: datagrams the kernel dropped (full receive buffers, any socket of the network
        #: namespace) while rounds ran: replies of those rounds may be among them.
        self.datagrams_dropped = 0
        #: block-wise listings completed on a discovery socket, and those that failed.
        self.block_transfers = 0
        self.block_transfer_failures = 0

    async def start(self) -> None:
        if self._listeners:
            return
        for name in self.interfaces:
            try:
                socket.if_nametoindex(name)
            except OSError:
                log.warning("OCF discovery: no interface %s, skipped", name)
                continue
            families = ([False] if self.ipv4 else []) + ([True] if self.ipv6_groups else [])
            for ipv6 in families:
                listener = await self._listen(name, ipv6)
                if listener is not None:
                    self._listeners.append(listener)

    async def _listen(self, name: str, ipv6: bool) -> _Listener | None:
        try:
            sock = _socket(socket.if_nametoindex(name), ipv6)
        except OSError as err:
            log.warning("OCF discovery: cannot use %s over IPv%s: %s", name, 6 if ipv6 else 4,
                        err)
            return None
        _, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
            functools.partial(_Listener, self, name, ipv6), sock=sock)
        return protocol

    async def shutdown(self) -> None:
        for task in list(self._completing):
            task.cancel()
        await asyncio.gather(*self._completing, return_exceptions=True)
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
        self._stale.clear()

    def next_mid(self) -> int:
        self._mid = (self._mid + 1) % 0x10000
        return self._mid

    async def _replace_stale(self) -> None:
        for old in list(self._stale):
            self._stale.discard(old)
            if old not in self._listeners:
                continue
            fresh = await self._listen(old.interface, old.ipv6)
            if fresh is None:
                continue
            self._listeners[self._listeners.index(old)] = fresh
            old.close()
            log.info("OCF discovery on %s (IPv%s): a block-wise listing could not be "
                     "completed; using a new source port, which the device has no unfinished "
                     "transfer with", old.interface, 6 if old.ipv6 else 4)

    async def round(self, query: Sequence[str] = (),
                    path: Sequence[str] = ("oic", "res")) -> list[DiscoveryReply]:
        """One discovery round: send, wait ``window`` seconds, return what came back
        (block-wise listings completed). ``path`` asks another resource instead
        (``/oic/sec/doxm?owned=FALSE`` finds unowned secured devices)."""
        await self._replace_stale()
        dropped = drops()
        self._token = os.urandom(4)
        self._query = tuple(query)
        self._replies = []
        for listener in self._listeners:
            if listener.transport is None:
                continue
            groups = self.ipv6_groups if listener.ipv6 else [wire.MCAST_V4]
            for group in groups:
                message = Message(code=GET, uri_path=tuple(path), uri_query=self._query,
                                  accept=wire.CF_OCF_CBOR)
                set_version(message, wire.OPT_ACCEPT_VERSION)
                data = datagram(message, Header(NON, self.next_mid(), self._token))
                index = socket.if_nametoindex(listener.interface)
                target: Any = ((group, wire.COAP_PORT, 0, index) if listener.ipv6
                               else (group, wire.COAP_PORT))
                try:
                    listener.transport.sendto(data, target)
                    self.datagrams_sent += 1
                except OSError as err:
                    log.debug("discovery to %s on %s failed: %s", group, listener.interface, err)
        await asyncio.sleep(self.window)
        # Transfers that started late in the window get their own time to finish.
        await asyncio.gather(*self._completing, return_exceptions=True)
        self.datagrams_dropped += max(0, drops() - dropped)
        replies, self._replies = self._replies, []
        return replies

    async def listings_completed(self) -> None:
        """Until no block-wise listing is being completed (returns at once when none is)."""
        while self._completing:
            await asyncio.gather(*self._completing, return_exceptions=True)

    def received(self, listener: _Listener, header: Header, message: Any, addr: Any) -> None:
        if header.token != self._token or not message.code.is_response():
            return
        if not message.code.is_successful():
            return
        host = str(addr[0])
        if listener.ipv6 and "%" not in host and ipaddress.ip_address(host).is_link_local:
            host = f"{host}%{listener.interface}"
        if self.own(host, int(addr[1])):
            return
        source = Endpoint("coap", host, int(addr[1]))
        block2 = message.opt.block2
        if block2 is not None and block2.more:
            task = asyncio.ensure_future(self._complete(listener, message, addr, source))
            self._completing.add(task)
            task.add_done_callback(self._completing.discard)
            return
        self._add(message, bytes(message.payload), source, listener.interface, False)

    def _add(self, message: Any, payload: bytes, source: Endpoint, interface: str,
             blockwise: bool) -> None:
        cf = message.opt.content_format
        reply = DiscoveryReply(
            payload=payload, content_format=None if cf is None else int(cf), source=source,
            interface=interface, blockwise=blockwise)
        self._replies.append(reply)
        if self.on_reply is not None:
            self.on_reply(reply)

    async def _complete(self, listener: _Listener, first: Any, addr: Any,
                        source: Endpoint) -> None:
        try:
            payload = await listener.blocks.fetch(
                addr, first, self._query, limit=self.listing_limit)
        except DeviceError as err:
            self.block_transfer_failures += 1
            self._stale.add(listener)
            log.warning("block-wise /oic/res from %s could not be completed (%s); its devices "
                        "are not discovered this round", source.uri, err.message)
            return
        self.block_transfers += 1
        self._add(first, payload, source, listener.interface, True)


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
    enlarge(sock, f"OCF discovery on interface {index} (IPv{6 if ipv6 else 4})")
    return sock
