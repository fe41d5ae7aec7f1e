"""After a flood of CoAP clients' state is freed, the memory goes back to the system
(issue 15, point 4; docs/ocf.md, "Limits per client").

What a flood leaves is counted by :attr:`ClientLimits.held`, which must fall on its own once
the load stops (remembered requests expire without any new request to notice it), and
:class:`MemoryRelease` must trim the C library's heap once per burst (and once more when what
was left at that trim has fallen too), not on every small change. The RSS itself, before, at
the peak and after each flood of the issue, is measured by ``bench/exhaustion.py`` against a
real gateway.
"""

from __future__ import annotations

import ctypes

from bridge.ocf.config import OcfConfig
from bridge.ocf.limits import EXCHANGE_LIFETIME, ClientLimits
from bridge.ocf.memory import BURST, MemoryRelease, rss_mib


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_remembered_requests_are_forgotten_without_new_traffic() -> None:
    clock = Clock()
    limits = ClientLimits(OcfConfig(), clock=clock)
    assert limits.requests is not None
    for number in range(300):
        assert limits.requests.take(f"127.0.0.{2 + number % 3}", ("port", number)) is None
    assert limits.observers.take("127.0.0.2") is None
    assert limits.held == 301
    clock.now += EXCHANGE_LIFETIME
    # Nothing arrived since: asking is enough to drop what expired.
    assert limits.held == 1
    limits.observers.give("127.0.0.2")
    assert limits.held == 0


def test_the_heap_is_trimmed_once_per_burst_after_it_is_freed() -> None:
    trims: list[int] = []
    release = MemoryRelease(trim=lambda: trims.append(1))
    for held in (0, BURST // 2, 10, BURST - 1, 0):
        release.after(held)
    assert trims == []  # never a burst
    for held in (BURST * 4, BURST * 2, BURST + 1):
        release.after(held)
    assert trims == []  # still more than a quarter of the peak held
    assert release.pending
    release.after(BURST)
    assert trims == [1] and release.trims == 1
    for held in (BURST // 2, BURST // 4 + 1):
        release.after(held)
    assert trims == [1] and release.pending  # what was left has not yet fallen to a quarter
    release.after(BURST // 4)
    assert trims == [1, 1] and not release.pending  # it has: its memory goes back too
    for held in (10, 0, 5):
        release.after(held)
    assert trims == [1, 1]  # the same burst is not trimmed again
    for held in (BURST * 3, 0):
        release.after(held)
    assert trims == [1, 1, 1]


def test_the_c_library_trim_really_runs() -> None:
    # glibc's malloc_trim, through ctypes: a real call that returns memory, not a stub.
    blocks = [ctypes.create_string_buffer(4096) for _ in range(20000)]
    grown = rss_mib()
    del blocks
    release = MemoryRelease()
    release.after(BURST)
    release.after(0)
    assert release.trims == 1
    assert 0 < rss_mib() < grown
