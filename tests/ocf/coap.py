"""A small aiocoap client helper for the tests (a real CoAP peer, not a mock)."""

from __future__ import annotations

from typing import Any

import cbor2
from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.optionnumbers import OptionNumber


async def request(ctx: Any, method: str, uri: str, payload: bytes = b"", *,
                  content_format: int | None = None, accept: int | None = None,
                  observe: int | None = None) -> Any:
    message = Message(code=Code[method], uri=uri, payload=payload)
    if content_format is not None:
        message.opt.content_format = content_format
    if accept is not None:
        message.opt.accept = accept
    if observe is not None:
        message.opt.observe = observe
    return await ctx.request(message).response


def body(response: Any) -> Any:
    assert response.code.is_successful(), (response.code, response.payload)
    assert response.opt.content_format == 10000
    version = response.opt.get_option(OptionNumber(2053))
    assert version and int.from_bytes(version[0].encode(), "big") == 2048
    return cbor2.loads(response.payload)


def code(response: Any) -> str:
    return str(response.code.dotted)
