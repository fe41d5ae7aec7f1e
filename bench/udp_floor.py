"""``python -m bench.udp_floor PORT PAYLOAD_HEX [--drain | --mmsg]``: the least a Python CoAP
server can do.

Layer: benchmark tooling. The floor of the C anchor benchmark (``bench/c_anchor.py``): a bare
asyncio server that answers every confirmable request with a piggybacked 2.05 of a fixed
payload and the options the gateway sends (Content-Format 10000, OCF version 2048), without
reading anything but the header and token. What a virtual OCF device costs above this row is
the gateway's, what this row costs above the C server's is the interpreter's and the event
loop's. Three ways to move the datagrams, each its own row of the benchmark:

- plain: asyncio's datagram transport, which reads *one* datagram per wake-up of the event
  loop (one ``epoll_wait`` round, one ``recvfrom``) and sends each answer with its own
  ``sendto``;
- ``--drain``: the socket's own reader (``loop.add_reader``) reads every datagram waiting, up
  to ``SLOTS`` per wake-up, with ``recvfrom_into`` into one preallocated buffer, answering
  each at once; the read that finds none raises ``BlockingIOError``;
- ``--mmsg``: Linux's ``recvmmsg`` reads up to ``SLOTS`` datagrams in one system call and
  ``sendmmsg`` sends all their answers in one more (``bench.mmsg``, through ctypes).

It prints ``ready`` on stdout once it listens on 127.0.0.1:PORT and runs until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Callable
from typing import Any

from bench.mmsg import Batch

#: Content-Format 10000 (option 12) and option 2053 = 2048, as the gateway encodes them.
OPTIONS = bytes.fromhex("c22710e206ec0800")
ACK_CONTENT = 0x60, 0x45
#: The first two bytes of an answer per token length: ACK, version 1, 2.05 Content.
_HEADS = [bytes((ACK_CONTENT[0] | length, ACK_CONTENT[1])) for length in range(9)]
#: Datagrams read per wake-up of the event loop at most, by the draining variants.
SLOTS = 64
#: Room for one request (the load generator's are about 20 bytes).
ROOM = 2048


def reply_to(data: bytes | memoryview, tail: bytes) -> bytes | None:
    """The answer to one request, None when it is not a CON of CoAP version 1: the ACK
    header, the request's message id and token (contiguous in both), the options and
    payload."""
    if len(data) < 4 or data[0] >> 4 != 0x4 or data[0] & 0x0F > 8:
        return None
    return _HEADS[data[0] & 0x0F] + data[2:4 + (data[0] & 0x0F)] + tail


class Floor(asyncio.DatagramProtocol):
    """The plain variant: what asyncio's datagram transport hands over, one at a time."""

    def __init__(self, tail: bytes) -> None:
        self.tail = tail
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply = reply_to(data, self.tail)
        if reply is not None:
            self.transport.sendto(reply, addr)


def drain_reader(sock: socket.socket, tail: bytes) -> Callable[[], None]:
    """The ``--drain`` variant's reader: every waiting datagram, at once, up to ``SLOTS``."""
    room = bytearray(ROOM)
    view = memoryview(room)

    def readable() -> None:
        for _ in range(SLOTS):
            try:
                size, address = sock.recvfrom_into(room)
            except (BlockingIOError, InterruptedError):
                return
            reply = reply_to(view[:size], tail)
            if reply is not None:
                try:
                    sock.sendto(reply, address)
                except BlockingIOError:
                    pass  # the socket buffer is full: lost, as by asyncio's transport

    return readable


def mmsg_reader(sock: socket.socket, tail: bytes) -> Callable[[], None]:
    """The ``--mmsg`` variant's reader: one ``recvmmsg`` and one ``sendmmsg`` per wake-up."""
    batch = Batch(sock.fileno(), SLOTS, ROOM, family=sock.family)

    def readable() -> None:
        count = batch.receive()
        answers = 0
        for slot in range(count):
            reply = reply_to(batch.datagram(slot), tail)
            if reply is not None:
                batch.queue(slot, reply)
                answers += 1
        if answers:
            batch.send()

    return readable


async def serve(port: int, payload: bytes, variant: str) -> None:
    loop = asyncio.get_running_loop()
    tail = OPTIONS + b"\xff" + payload
    if variant == "plain":
        transport, _ = await loop.create_datagram_endpoint(lambda: Floor(tail),
                                                           local_addr=("127.0.0.1", port))
        close = transport.close
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(("127.0.0.1", port))
        reader = drain_reader if variant == "drain" else mmsg_reader
        loop.add_reader(sock.fileno(), reader(sock, tail))

        def close() -> None:
            loop.remove_reader(sock.fileno())
            sock.close()

    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.udp_floor")
    parser.add_argument("port", type=int)
    parser.add_argument("payload", type=bytes.fromhex, help="the representation, in hex")
    way = parser.add_mutually_exclusive_group()
    way.add_argument("--drain", dest="variant", action="store_const", const="drain",
                     help="read every waiting datagram per wake-up (recvfrom_into)")
    way.add_argument("--mmsg", dest="variant", action="store_const", const="mmsg",
                     help="read and answer them with recvmmsg and sendmmsg")
    parser.set_defaults(variant="plain")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.payload, args.variant))


if __name__ == "__main__":
    main()
