"""``python -m bench.udp_floor PORT PAYLOAD_HEX``: the least a Python CoAP server can do.

Layer: benchmark tooling. The floor of the C anchor benchmark (``bench/c_anchor.py``): a bare
asyncio datagram protocol that answers every confirmable request with a piggybacked 2.05 of
a fixed payload and the options the gateway sends (Content-Format 10000, OCF version 2048),
without reading anything but the header and token. No server written in Python on asyncio
answers for less: what a virtual OCF device costs above this row is the gateway's, what this
row costs above the C server's is the interpreter's and the event loop's. It prints
``ready`` on stdout once it listens on 127.0.0.1:PORT and runs until stdin closes.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from typing import Any

#: Content-Format 10000 (option 12) and option 2053 = 2048, as the gateway encodes them.
OPTIONS = bytes.fromhex("c22710e206ec0800")
ACK_CONTENT = 0x60, 0x45


class Floor(asyncio.DatagramProtocol):
    def __init__(self, payload: bytes) -> None:
        self.tail = OPTIONS + b"\xff" + payload
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 4 or data[0] >> 4 != 0x4:  # not a CON of CoAP version 1
            return
        token = data[4:4 + (data[0] & 0x0F)]
        header = struct.pack("!BB2s", ACK_CONTENT[0] | len(token), ACK_CONTENT[1], data[2:4])
        self.transport.sendto(header + token + self.tail, addr)


async def serve(port: int, payload: bytes) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: Floor(payload),
                                                       local_addr=("127.0.0.1", port))
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    transport.close()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), bytes.fromhex(sys.argv[2])))
