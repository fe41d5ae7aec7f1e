"""``ocfaj run`` collects the young generation less often (docs/design.md, "The daemon's
garbage collector"); the older generations keep Python's thresholds."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Iterator

import pytest

from bridge.daemon import run_command


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield gc.get_threshold()
    finally:
        gc.set_threshold(*before)


class _Stop(Exception):
    pass


def test_ocfaj_run_raises_only_the_young_threshold(thresholds: tuple[int, int, int],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int, int]] = []

    def config_from_args(args: argparse.Namespace) -> None:
        seen.append(gc.get_threshold())  # what the gateway will run with
        raise _Stop

    monkeypatch.setattr(run_command, "config_from_args", config_from_args)
    with pytest.raises(_Stop):
        run_command._run(argparse.Namespace())
    assert seen == [(run_command.GC_YOUNG_THRESHOLD, 10, 10)]
    assert run_command.GC_YOUNG_THRESHOLD > 700


def test_the_collector_still_collects_cycles_after_the_tuning(thresholds: object) -> None:
    run_command.tune_gc()

    class Node:
        def __init__(self) -> None:
            self.other: Node | None = None

    collected: list[int] = []
    gc.callbacks.append(lambda phase, info: collected.append(info["collected"])
                        if phase == "stop" else None)
    try:
        for _ in range(3 * run_command.GC_YOUNG_THRESHOLD):
            a, b = Node(), Node()
            a.other, b.other = b, a  # a cycle that only the collector frees
    finally:
        gc.callbacks.pop()
    assert collected and sum(collected) > 0  # automatic collections ran and freed cycles
