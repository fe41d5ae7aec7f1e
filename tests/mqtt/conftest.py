"""Fixtures of the MQTT side tests: a registry with an origin, the side, and a recording client.

The broker is a real mosquitto from the ocfaj pytest plugin's ``mosquitto`` /
``mosquitto_factory`` fixtures. ``Recorder`` is an independent MQTT 5 client that subscribes
to everything with retain-as-published, so tests assert the exact topic, payload, QoS and
retain flag the gateway sent. With ``persistent=True`` it keeps its session across broker
restarts (the broker must run with persistence), so it misses nothing while it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Side
from bridge.model.types import Catalogue
from bridge.mqtt.config import MqttConfig
from bridge.mqtt.side import MqttSide
from bridge.sim.testing.mosquitto import Mosquitto
from bridge.sim.testing.procs import await_until
from tests.mqtt.things import Origin

_ids = itertools.count(1)


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Recorder:
    """Records every message on ``topics`` (default ``#``)."""

    def __init__(self, host: str, port: int, *, persistent: bool = False,
                 topics: tuple[str, ...] = ("#",), **client_args: Any) -> None:
        self.host, self.port = host, port
        self.persistent = persistent
        self.topics = topics
        self.client_args = client_args
        self.messages: list[Received] = []
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client_id = f"recorder-{next(_ids)}"

    async def start(self) -> Recorder:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.subscribed.wait(), 10)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if self.persistent:
            props.SessionExpiryInterval = 3600
        client = aiomqtt.Client(self.host, self.port, identifier=self._client_id,
                                protocol=aiomqtt.ProtocolVersion.V5,
                                clean_start=not self.persistent, properties=props,
                                **self.client_args)
        handling = (SubscribeOptions.RETAIN_SEND_IF_NEW_SUB if self.persistent
                    else SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE)
        while True:
            try:
                async with client:
                    for topic in self.topics:
                        await client.subscribe(topic, options=SubscribeOptions(
                            qos=2, retainAsPublished=True, retainHandling=handling))
                    self.subscribed.set()
                    async for message in client.messages:
                        payload = message.payload
                        assert isinstance(payload, bytes | bytearray)
                        self.messages.append(Received(message.topic.value, bytes(payload),
                                                      message.qos, message.retain))
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def on(self, topic: str) -> list[Received]:
        return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> Received | None:
        found = self.on(topic)
        return found[-1] if found else None

    def under(self, prefix: str) -> list[Received]:
        return [m for m in self.messages if m.topic.startswith(prefix)]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0,
                       message: str = "") -> None:
        try:
            await await_until(predicate, within, message=message)
        except TimeoutError as err:
            seen = "\n".join(f"  {m.topic} {m.payload[:120]!r} q{m.qos} r{int(m.retain)}"
                             for m in self.messages[-30:])
            raise AssertionError(f"{err}; last messages:\n{seen}") from None

    async def wait_last(self, topic: str, payload: Any, within: float = 10.0) -> Received:
        """Wait until the newest message on ``topic`` has JSON ``payload``; return it."""
        def ok() -> bool:
            last = self.last(topic)
            return last is not None and last.payload != b"" and last.json() == payload
        await self.wait_for(ok, within, f"{topic} = {payload}")
        found = self.last(topic)
        assert found is not None
        return found


RecorderFactory = Callable[..., Awaitable[Recorder]]
SideFactory = Callable[..., Awaitable[MqttSide]]


class _Broker(Protocol):
    host: str
    port: int


@pytest.fixture
def origin() -> Origin:
    return Origin()


@pytest.fixture
def registry(origin: Origin) -> Registry:
    reg = Registry(EventBus())
    reg.register_handler(Side.OCF, origin)
    reg.register_handler(Side.ALLJOYN, origin)
    return reg


@pytest.fixture
async def recorder_factory() -> AsyncIterator[RecorderFactory]:
    made: list[Recorder] = []

    async def make(broker: _Broker, **kwargs: Any) -> Recorder:
        rec = Recorder(broker.host, kwargs.pop("port", broker.port), **kwargs)
        made.append(rec)
        return await rec.start()

    yield make
    for rec in made:
        await rec.stop()


@pytest.fixture
async def recorder(mosquitto: Mosquitto, recorder_factory: RecorderFactory) -> Recorder:
    return await recorder_factory(mosquitto)


def side_config(broker: _Broker | None, **overrides: Any) -> MqttConfig:
    values: dict[str, Any] = {
        "enabled": True, "host": broker.host if broker else "127.0.0.1",
        "port": broker.port if broker else 1, "keepalive": 4, "reconnect_max_delay": 0.5,
        "client_id": f"gw-{next(_ids)}",
    }
    values.update(overrides)
    return MqttConfig(**values)


@pytest.fixture
async def side_factory(tmp_path: Path, registry: Registry, catalogue: Catalogue,
                       book: IdentityBook) -> AsyncIterator[SideFactory]:
    made: list[MqttSide] = []

    async def make(broker: _Broker | None, *, state_dir: Path | None = None,
                   finder: Any = None, health_interval: float | None = None,
                   configuration_url: str = "", **overrides: Any) -> MqttSide:
        side = MqttSide(side_config(broker, **overrides), registry, catalogue, book, "Test GW",
                        state_dir=state_dir or tmp_path / "state", broker_finder=finder,
                        health_interval=health_interval,
                        configuration_url=lambda: configuration_url)
        made.append(side)
        await side.start()
        return side

    yield make
    for side in made:
        await side.shutdown()


async def connected(side: MqttSide, within: float = 10.0) -> None:
    await await_until(lambda: side.status()["connected"], within, message="side connected")


async def drained(side: MqttSide, within: float = 10.0) -> None:
    await await_until(lambda: side.status()["connected"] and side.outbox.count == 0, within,
                      message="outbox drained")
