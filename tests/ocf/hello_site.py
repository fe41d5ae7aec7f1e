"""A real aiocoap server with one resource (``/hello``) on ``::1`` and a client beside it,
for the tests of the gateway's event loops."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiocoap
import aiocoap.resource


class Hello(aiocoap.resource.Resource):
    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        return aiocoap.Message(payload=b"hello")


@contextlib.asynccontextmanager
async def hello_server() -> AsyncIterator[tuple[aiocoap.Context, aiocoap.Context, int]]:
    """(server context, client context, the server's port), both on udp6, shut down after."""
    site = aiocoap.resource.Site()
    site.add_resource(["hello"], Hello())
    server = await aiocoap.Context.create_server_context(site, bind=("::1", 0),
                                                         transports=["udp6"])
    client = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        port = server.request_interfaces[0].token_interface.message_interface \
            .transport.get_extra_info("socket").getsockname()[1]
        yield server, client, int(port)
    finally:
        await client.shutdown()
        await server.shutdown()


async def get_hello(client: aiocoap.Context, port: int) -> bytes:
    response = await client.request(
        aiocoap.Message(code=aiocoap.GET, uri=f"coap://[::1]:{port}/hello")).response
    return bytes(response.payload)
