"""Fuzz tests: every test reports how many cases it ran, and the counts are printed in
pytest's terminal summary (visible without ``-s``), as issue 9 asks.

Use the ``fuzz_cases`` fixture: ``fuzz_cases("About data, pure", n)`` records ``n`` for the
summary; the test still asserts its own minimum.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

_COUNTS: dict[str, int] = {}

Record = Callable[[str, int], None]


@pytest.fixture
def fuzz_cases() -> Record:
    def record(what: str, cases: int) -> None:
        _COUNTS[what] = _COUNTS.get(what, 0) + cases

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _COUNTS:
        return
    terminalreporter.section("fuzz cases run")
    for what, cases in _COUNTS.items():
        terminalreporter.write_line(f"{what}: {cases} cases")
    terminalreporter.write_line(f"total: {sum(_COUNTS.values())} cases")
