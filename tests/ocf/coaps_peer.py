"""A coaps server for the transport tests: a real aiocoap server site behind
bridge.ocf.coaps, with an observable counter and a resource larger than one block."""

from __future__ import annotations

import uuid
from typing import Any

import aiocoap
import aiocoap.resource as resource

from bridge.ocf import coaps, dtls, wire
from bridge.ocf.svr_device import c_string

BIG = {"rt": ["x.big"], "text": "z" * 3000}


class Counter(resource.ObservableResource):
    def __init__(self) -> None:
        super().__init__()
        self.value = 0
        self.callers: list[list[bytes]] = []

    def bump(self) -> None:
        self.value += 1
        self.updated_state()

    async def render_get(self, request: Any) -> aiocoap.Message:
        self.callers.append(list(request.remote.authenticated_claims))
        return aiocoap.Message(payload=wire.encode({"value": self.value}),
                               content_format=wire.CF_OCF_CBOR)


class Big(resource.Resource):
    async def render_get(self, request: Any) -> aiocoap.Message:
        return aiocoap.Message(payload=wire.encode(BIG), content_format=wire.CF_OCF_CBOR)


class CoapsPeer:
    """``hint`` is what the server sends; ``key`` what it holds for every client identity."""

    def __init__(self, server: uuid.UUID, key: bytes, *, hint: bytes | None = None) -> None:
        self.server = server
        self.key = key
        # As the gateway's own secured devices send it: the UUID up to a zero byte, which
        # OpenSSL cannot carry (a random UUID holds one about once in 16).
        self.hint = c_string(server.bytes) if hint is None else hint
        self.counter = Counter()
        self.context: Any = None
        self.interface: coaps.CoapsInterface | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        site = resource.Site()
        site.add_resource(["counter"], self.counter)
        site.add_resource(["big"], Big())
        self.context = aiocoap.Context(serversite=site)
        self.interface = await coaps.attach(
            self.context, server_context=dtls.server_context(self.hint, lambda _s, _i: self.key),
            host="::1", port=port)
        self.port = self.interface.local_address[1]

    async def stop(self) -> None:
        if self.context is not None:
            await self.context.shutdown()
            self.context = None
