"""One D-Bus method call from a separate process, for tests that run it as another user.

``python -m tests.service.bus_client ADDRESS DEST PATH INTERFACE MEMBER [SIGNATURE JSON_BODY]``
prints one JSON object: ``{"error": name, "text": ...}`` for an error reply, else
``{"body": ...}`` (variants unwrapped). Exit status 0 either way: the caller asserts on it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus


def plain(value: Any) -> Any:
    if isinstance(value, Variant):
        return plain(value.value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def variants(signature: str, body: list[Any]) -> list[Any]:
    """``v`` arguments are given as ``[signature, value]`` pairs in the JSON body."""
    from dbus_fast import SignatureTree

    out = []
    for kind, value in zip(SignatureTree(signature).types, body, strict=True):
        out.append(Variant(value[0], value[1]) if kind.token == "v" else value)
    return out


async def main(address: str, dest: str, path: str, interface: str, member: str,
               signature: str = "", body: str = "[]") -> dict[str, Any]:
    bus = await MessageBus(bus_address=address).connect()
    try:
        reply = await bus.call(Message(destination=dest, path=path, interface=interface,
                                       member=member, signature=signature,
                                       body=variants(signature, json.loads(body))))
    finally:
        bus.disconnect()
    assert reply is not None
    if reply.message_type is MessageType.ERROR:
        return {"error": reply.error_name, "text": plain(reply.body)}
    return {"body": plain(reply.body)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:]))))
