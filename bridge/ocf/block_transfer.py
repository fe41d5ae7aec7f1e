"""Finishing a block-wise ``/oic/res`` on the discovery socket that started it.

Layer: ``bridge.ocf`` I/O (one datagram transport that someone else owns; aiocoap only to
encode and decode messages). A device whose listing exceeds one block answers a multicast
discovery request with block 0 and expects the client to ask for the remaining blocks
(RFC 7959 section 2.4) from the *same* source address and port: the reference OCF stack
keys an unfinished block-wise transfer by the client's endpoint, keeps it for minutes and,
meanwhile, silently drops every further multicast request from that endpoint as a
"duplicate". Fetching the rest from another socket therefore makes the device deaf to the
next discovery rounds. :class:`BlockTransfers` sends the follow-up requests (unicast CON
GETs with Block2) through the discovery socket and matches their answers by token.

Retransmission follows RFC 7252 section 4.8 (ACK_TIMEOUT 2 s, random factor 1.5, at most 4
retransmissions), each block bounded by ``deadline``.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

from aiocoap import GET, Message
from aiocoap.optiontypes import BlockOption

from bridge.core.errors import DeviceError, DeviceTimeout
from bridge.ocf import wire
from bridge.ocf.coap_messages import ACK, CON, Header, datagram, set_version, status_number

ACK_TIMEOUT = 2.0
ACK_RANDOM_FACTOR = 1.5
MAX_RETRANSMIT = 4

Send = Callable[[bytes, Any], None]


class BlockTransfers:
    """Block-wise GETs through one transport; :meth:`received` is fed every datagram."""

    def __init__(self, send: Send, next_mid: Callable[[], int], deadline: float) -> None:
        self._send = send
        #: seconds one block may take, retransmissions included.
        self.deadline = deadline
        self._next_mid = next_mid
        self._waiting: dict[bytes, asyncio.Future[Any]] = {}
        #: message ids of requests still being retransmitted -> their token.
        self._unacked: dict[int, bytes] = {}

    def received(self, header: Header, message: Any) -> bool:
        """Take ``message`` if it answers one of our block requests (True when taken)."""
        if header.mtype == ACK and header.mid in self._unacked and not message.code:
            # An empty ACK: the answer comes later as a separate response (RFC 7252 5.2.2).
            self._unacked.pop(header.mid, None)
            return True
        future = self._waiting.get(header.token)
        if future is None or not message.code.is_response():
            return False
        if header.mtype == ACK:
            self._unacked.pop(header.mid, None)
        if not future.done():
            future.set_result(message)
        return True

    async def fetch(self, target: Any, first: Any, query: Sequence[str], *,
                    limit: int) -> bytes:
        """The whole payload whose block 0 is ``first``, asking ``target`` for the rest.

        Raises ``DeviceError`` for an error answer, a broken sequence or a payload over
        ``limit`` bytes, ``DeviceTimeout`` when the device stops answering.
        """
        block = first.opt.block2
        payload = bytearray(first.payload)
        restarted = False
        while block is not None and block.more:
            # RFC 7959 2.4: the client may keep or lower the block size the server chose.
            number = len(payload) // block.size
            if len(payload) % block.size:
                raise DeviceError(502, "a block-wise /oic/res block was shorter than its "
                                       "block size")
            try:
                async with asyncio.timeout(self.deadline):
                    answer = await self._get_block(target, query, number, block.size_exponent)
            except TimeoutError:
                raise DeviceTimeout(f"block {number} of /oic/res not answered within "
                                    f"{self.deadline} s") from None
            if status_number(answer.code) == 408 and number > 0 and not restarted:
                # The server kept no state of the transfer its multicast answer began (aiocoap
                # servers keep it per remote, and a multicast request is another remote):
                # start again from block 0, by unicast, from this same socket.
                restarted = True
                payload = bytearray()
                continue
            if not answer.code.is_successful():
                text = bytes(answer.payload).decode("utf-8", "replace")[:200]
                raise DeviceError(status_number(answer.code), text or str(answer.code))
            block = answer.opt.block2
            if block is None or block.block_number != number:
                raise DeviceError(502, f"asked for block {number} of /oic/res, got "
                                       f"{'none' if block is None else block.block_number}")
            payload += answer.payload
            if len(payload) > limit:
                raise DeviceError(413, f"/oic/res exceeds {limit} bytes")
        return bytes(payload)

    async def _get_block(self, target: Any, query: Sequence[str], number: int,
                         exponent: int) -> Any:
        token = os.urandom(8)
        message = Message(code=GET, uri_path=("oic", "res"), uri_query=tuple(query),
                          accept=wire.CF_OCF_CBOR)
        set_version(message, wire.OPT_ACCEPT_VERSION)
        message.opt.block2 = BlockOption.BlockwiseTuple(number, False, exponent)
        mid = self._next_mid()
        data = datagram(message, Header(CON, mid, token))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        self._unacked[mid] = token
        wait = ACK_TIMEOUT * random.uniform(1.0, ACK_RANDOM_FACTOR)
        try:
            for _ in range(MAX_RETRANSMIT + 1):
                self._send(data, target)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), wait)
                except TimeoutError:
                    if mid not in self._unacked:
                        # acknowledged: the separate response is on its way, stop resending
                        return await future
                    wait *= 2
            raise DeviceTimeout(f"no answer to block {number} of /oic/res")
        finally:
            self._waiting.pop(token, None)
            self._unacked.pop(mid, None)
