"""Fixtures of the OCF tests: a gateway-side OcfSide on ``ocfbr0`` with shrunk timers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.daemon.event_loop import LiteralResolvingLoop, loop_factory
from bridge.model.types import Catalogue
from bridge.ocf.config import OcfConfig
from bridge.ocf.side import OcfSide

SideFactory = Callable[..., Awaitable[OcfSide]]


@pytest.hookimpl(optionalhook=True)
def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item
                                  ) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The tests of a module that sets ``BOTH_LOOPS = True`` run twice: on the gateway's
    asyncio loop and on its uvloop one (what ``ocfaj run`` picks where uvloop is installed);
    every other test runs on asyncio's default loop. pytest-asyncio releases before this hook
    (the lowest allowed) ignore it and run everything on the default loop."""
    if getattr(getattr(item, "module", None), "BOTH_LOOPS", False):
        return {"asyncio": LiteralResolvingLoop, "uvloop": loop_factory("uvloop")}
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture
async def ocf_side(registry: Registry, catalogue: Catalogue) -> AsyncIterator[SideFactory]:
    """``ocf_side(**config)``: a started OcfSide on ocfbr0 (timers in tenths of seconds)."""
    sides: list[OcfSide] = []

    async def make(**overrides: object) -> OcfSide:
        settings: dict[str, object] = {"interfaces": ("ocfbr0",), "discovery_interval": 0.6,
                                       "missed_rounds": 2, "request_timeout": 2.0}
        settings.update(overrides)
        side = OcfSide(OcfConfig(**settings), registry, catalogue,  # type: ignore[arg-type]
                       IdentityBook(), "Test gateway")
        sides.append(side)
        await side.start()
        return side

    yield make
    for side in sides:
        await side.shutdown()
