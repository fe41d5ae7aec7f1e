"""A hand-driven CoAP client on one UDP socket, for the hostile-client tests.

A real peer (real UDP, aiocoap's own encoder), but with the message ids, tokens and options a
test chooses: the same socket can hold many observations, leave uploads unfinished or repeat
a message id, which aiocoap's client context would never do.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from typing import Any

from aiocoap import ACK, CON, Message
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption


class CoapPeer:
    """One UDP socket towards ``host``:``port``; :meth:`exchange` sends and awaits the answer."""

    def __init__(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect((host, port))
        self._mids = itertools.count(1)

    def close(self) -> None:
        self.sock.close()

    def message(self, code: Code, path: str, *, payload: bytes = b"", observe: int | None = None,
                block1: tuple[int, bool, int] | None = None, token: bytes | None = None,
                mid: int | None = None) -> Message:
        message = Message(code=code, uri_path=tuple(p for p in path.split("/") if p),
                          payload=payload)
        if observe is not None:
            message.opt.observe = observe
        if block1 is not None:
            message.opt.block1 = BlockOption.BlockwiseTuple(*block1)
        message.mtype = CON
        message.mid = next(self._mids) if mid is None else mid
        message.token = os.urandom(4) if token is None else token
        return message

    async def exchange(self, message: Message, within: float = 10.0) -> Any:
        """Send ``message``; its answer (piggy-backed, or separate after an empty ACK)."""
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(self.sock, message.encode())
        async with asyncio.timeout(within):
            while True:
                answer = Message.decode(await loop.sock_recv(self.sock, 65536))
                if answer.token == message.token and answer.code.is_response():
                    return answer

    async def acknowledge(self, message: Any) -> None:
        """The empty ACK of a confirmable ``message`` (nothing for any other)."""
        if message.mtype is not CON:
            return
        ack = Message(code=Code.EMPTY)
        ack.mtype, ack.mid = ACK, message.mid
        await asyncio.get_running_loop().sock_sendall(self.sock, ack.encode())

    async def receive(self, within: float = 10.0) -> Any:
        """The next message that arrives (a notification, say)."""
        async with asyncio.timeout(within):
            return Message.decode(await asyncio.get_running_loop().sock_recv(self.sock, 65536))

    async def request(self, code: Code, path: str, **options: Any) -> Any:
        return await self.exchange(self.message(code, path, **options))
