"""Fixtures of the AllJoyn tests: a gateway side, simulated devices and a client bus, all on the
private ``dbus_daemon`` of the harness (never the machine's buses).

Timeouts are shrunk (``call_timeout`` 2 s, ``scan_timeout`` 1 s) so that tests about vanished
devices finish quickly; nothing asserts on durations.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

# Imported now, at collection: after a dbus-daemon restart under dbus-fast, CPython 3.11.7
# fails to compile modules imported later in the same process ("SystemError: AST constructor
# recursion depth mismatch", a CPython AST-validator bug fixed in later 3.11 releases), and
# hypothesis' pytest plugin imports hypothesis lazily in its terminal summary.
import hypothesis  # noqa: F401
import pytest
from dbus_fast.aio import MessageBus

from bridge.alljoyn.bus import parse_bus
from bridge.alljoyn.config import AllJoynConfig
from bridge.alljoyn.side import AllJoynSide
from bridge.core.identity import IdentityBook
from bridge.core.registry import Command, CommandHandler, Registry
from bridge.core.thing import Thing
from bridge.model.types import Catalogue, Value
from bridge.sim.alljoyn import AllJoynSimServer, sim_device
from bridge.sim.testing.dbus import DBusDaemon

CALL_TIMEOUT = 2.0


@pytest.fixture(autouse=True)
def collect_garbage_after_test() -> Iterator[None]:
    """Collect after every AllJoyn test, once its sides and simulators are stopped.

    A broken connection fails the futures of messages still queued (dbus-fast sends the
    answers of message handlers without keeping the future); they sit in reference cycles
    until a collection, whose finalizer logs "Future exception was never retrieved" with a
    traceback. On CPython 3.11.7 formatting that traceback parses source with ``ast``, and if
    the collection happens to run inside another ``ast.parse`` (tests/unit/test_boundaries.py)
    the nested parse breaks the outer one ("AST constructor recursion depth mismatch").
    Collecting here runs those finalizers at a harmless point.
    """
    yield
    gc.collect()


def config_for(address: str, **overrides: Any) -> AllJoynConfig:
    values: dict[str, Any] = {"bus": address, "call_timeout": CALL_TIMEOUT,
                              "scan_timeout": 1.0, "reconnect_max_delay": 1.0}
    values.update(overrides)
    return AllJoynConfig(**values)


SideFactory = Callable[..., Awaitable[AllJoynSide]]


@pytest.fixture
async def make_side(dbus_daemon: DBusDaemon, registry: Registry, catalogue: Catalogue,
                    book: IdentityBook) -> AsyncIterator[SideFactory]:
    sides: list[AllJoynSide] = []

    async def make(**overrides: Any) -> AllJoynSide:
        side = AllJoynSide(config_for(dbus_daemon.address, **overrides), registry, catalogue,
                           book, "test-gateway")
        sides.append(side)
        await side.start()
        return side

    yield make
    for side in sides:
        await side.shutdown()


SimFactory = Callable[..., Awaitable[AllJoynSimServer]]


@pytest.fixture
async def make_sim(dbus_daemon: DBusDaemon, catalogue: Catalogue) -> AsyncIterator[SimFactory]:
    sims: list[AllJoynSimServer] = []

    async def make(model: str = "light", name: str = "Lamp", **kwargs: Any) -> AllJoynSimServer:
        server = AllJoynSimServer(sim_device(name, catalogue, model),
                                  parse_bus(dbus_daemon.address), **kwargs)
        sims.append(server)
        await server.start()
        return server

    yield make
    for server in sims:
        await server.stop()


@pytest.fixture
async def client(dbus_daemon: DBusDaemon) -> AsyncIterator[MessageBus]:
    """A plain dbus-fast connection acting as an AllJoyn consumer of the test."""
    bus = await MessageBus(bus_address=dbus_daemon.address).connect()
    yield bus
    bus.disconnect()


class OriginDouble(CommandHandler):
    """The origin side of non-AllJoyn Things in producer tests: records commands, answers
    with the written values, or raises what ``fail`` holds."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.fail: Exception | None = None
        self.answer: Mapping[str, Value] | None = None

    async def execute(self, thing: Thing, command: Command) -> Mapping[str, Value]:
        self.commands.append(command)
        if self.fail is not None:
            raise self.fail
        if self.answer is not None:
            return self.answer
        return dict(getattr(command, "values", {}))

    async def refresh(self, thing: Thing, capability: str) -> Mapping[str, Value]:
        return dict(thing.capabilities[capability].state)
