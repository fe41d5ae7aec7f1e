"""``python -m bench.aiocoap_server PORT PATH PAYLOAD_HEX``: a plain aiocoap server, one resource.

Layer: benchmark tooling. The Python anchor of the C anchor benchmark (``bench/c_anchor.py``):
the smallest aiocoap server that answers GET ``PATH`` with a fixed payload (content-format
10000, application/vnd.ocf+cbor), in its own process so it has its own interpreter like the
gateway. It prints ``ready`` on stdout once it listens on 127.0.0.1:PORT and runs until
stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

import aiocoap
import aiocoap.resource

OCF_CBOR = 10000


class Fixed(aiocoap.resource.Resource):  # type: ignore[misc]
    def __init__(self, payload: bytes) -> None:
        super().__init__()
        self.payload = payload

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=self.payload, content_format=OCF_CBOR)


async def serve(port: int, path: str, payload: bytes) -> None:
    site = aiocoap.resource.Site()
    site.add_resource([s for s in path.split("/") if s], Fixed(payload))
    context = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await context.shutdown()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])))
