"""``ocfaj run`` moves what start-up made to the permanent generation once the gateway started."""

from __future__ import annotations

import asyncio
import gc

import pytest

from bridge.daemon import gateway as gateway_module
from bridge.daemon.config import parse_config
from bridge.daemon.run_command import run_until_signalled


async def test_the_heap_is_frozen_after_the_gateway_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, int]] = []

    class Recording:
        """Stands in for the gateway: records the frozen objects at start and shutdown."""

        def __init__(self, config: object) -> None:
            self.made = [object() for _ in range(100)]  # what a start leaves alive

        async def start(self) -> None:
            seen.append(("start", gc.get_freeze_count()))

        async def shutdown(self) -> None:
            seen.append(("shutdown", gc.get_freeze_count()))

    monkeypatch.setattr(gateway_module, "Gateway", Recording)
    gc.unfreeze()
    stop = asyncio.Event()
    stop.set()
    try:
        assert await run_until_signalled(parse_config({}, env={}), stop) == 0
    finally:
        gc.unfreeze()
    assert [name for name, _ in seen] == ["start", "shutdown"]
    assert seen[0][1] == 0, "frozen before the gateway started"
    assert seen[1][1] > 100, "the started gateway's objects were not frozen"
