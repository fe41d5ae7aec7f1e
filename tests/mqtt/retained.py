"""What a broker holds: every retained message a new subscriber gets, and nothing else."""

from __future__ import annotations

import asyncio
import itertools

import aiomqtt

_markers = itertools.count(1)


async def retained_now(host: str, port: int, within: float = 15.0) -> dict[str, bytes]:
    """Every retained message the broker holds now, by topic.

    The broker sends the retained messages of a subscription before anything published after
    it, so once a marker published after subscribing comes back, every one has arrived."""
    marker = f"test/marker/{next(_markers)}"
    found: dict[str, bytes] = {}
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe("#", qos=1)
        await client.publish(marker, b"end", qos=1)
        async with asyncio.timeout(within):
            async for message in client.messages:
                topic = str(message.topic)
                if topic == marker:
                    return found
                if message.retain and isinstance(message.payload, bytes | bytearray):
                    found[topic] = bytes(message.payload)
    raise AssertionError("the broker ended the subscription before the marker came back")
