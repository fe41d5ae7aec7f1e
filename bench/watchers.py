"""Consumers that count state changes as a client of each protocol sees them.

Layer: benchmark tooling. A CoAP observer (aiocoap, RFC 7641), a D-Bus ``PropertiesChanged``
listener (dbus-fast) and an MQTT subscriber (aiomqtt) each record the numeric values of one
property they receive, so a benchmark can tell how many of the values it produced arrived,
whether the last one did, and when.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiocoap
import aiomqtt
import cbor2
from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from bench.rig import PROPERTIES, dbus_call


class Progress:
    """The values one consumer received, and when it got the highest so far."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.values: set[float] = set()
        self.highest = -1.0
        self.highest_at = 0.0
        #: value -> when it first arrived (``time.perf_counter``), for latencies.
        self.arrived: dict[float, float] = {}
        self.changed = asyncio.Event()

    def saw(self, value: Any) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return
        now = time.perf_counter()
        self.values.add(float(value))
        self.arrived.setdefault(float(value), now)
        if value > self.highest:
            self.highest = float(value)
            self.highest_at = now
        self.changed.set()


def find(payload: Any, key: str) -> Any:
    """The first value of ``key`` anywhere in nested dicts (state payloads nest differently)."""
    if isinstance(payload, dict):
        if key in payload and not isinstance(payload[key], dict):
            return payload[key]
        for inner in payload.values():
            found = find(inner, key)
            if found is not None:
                return found
    return None


class CoapObserver:
    def __init__(self, context: Any, uri: str, key: str, progress: Progress) -> None:
        self.context, self.uri, self.key, self.progress = context, uri, key, progress
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        request = self.context.request(aiocoap.Message(code=aiocoap.GET, uri=self.uri,
                                                       observe=0))
        first = await request.response
        self.progress.saw(find(cbor2.loads(first.payload), self.key))
        self._task = asyncio.create_task(self._follow(request))

    async def _follow(self, request: Any) -> None:
        async for response in request.observation:
            self.progress.saw(find(cbor2.loads(response.payload), self.key))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


class SignalListener:
    def __init__(self, bus: MessageBus, sender: str, path: str, key: str,
                 progress: Progress) -> None:
        self.bus, self.sender, self.path, self.key = bus, sender, path, key
        self.progress = progress
        self.rule = (f"type='signal',sender='{sender}',path='{path}',"
                     f"interface='{PROPERTIES}',member='PropertiesChanged'")

    def _on_message(self, msg: Message) -> None:
        if (msg.message_type is MessageType.SIGNAL and msg.member == "PropertiesChanged"
                and msg.path == self.path and msg.sender == self.sender):
            variant = msg.body[1].get(self.key)
            if variant is not None:
                self.progress.saw(variant.value)

    async def start(self) -> None:
        self.bus.add_message_handler(self._on_message)
        await dbus_call(self.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                        "org.freedesktop.DBus", "AddMatch", "s", [self.rule])

    async def stop(self) -> None:
        self.bus.remove_message_handler(self._on_message)
        with contextlib.suppress(Exception):
            await dbus_call(self.bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "RemoveMatch", "s", [self.rule])


class MqttWatcher:
    """Subscribes to ``topic`` and records ``key`` of each JSON payload."""

    def __init__(self, port: int, topic: str, key: str, progress: Progress) -> None:
        self.port, self.topic, self.key, self.progress = port, topic, key, progress
        self.messages = 0
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def _run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port) as c:
            await c.subscribe(self.topic, qos=1)
            self._subscribed.set()
            async for message in c.messages:
                self.messages += 1
                with contextlib.suppress(ValueError, TypeError):
                    payload = message.payload
                    assert isinstance(payload, bytes)
                    self.progress.saw(find(json.loads(payload), self.key))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
