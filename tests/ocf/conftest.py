"""Fixtures of the OCF tests: a gateway-side OcfSide on ``ocfbr0`` with shrunk timers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model.types import Catalogue
from bridge.ocf.config import OcfConfig
from bridge.ocf.side import OcfSide

SideFactory = Callable[..., Awaitable[OcfSide]]


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
