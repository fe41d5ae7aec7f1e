"""Giving memory back to the system once a flood of CoAP clients' state has been freed.

Layer: ``bridge.ocf`` I/O helper (the C library through ``ctypes``, ``/proc/self/statm``); no
asyncio, no aiocoap. What unauthenticated clients make the gateway keep is capped
(``bridge.ocf.limits``) and ends in time, but freed memory does not by itself leave the
process: the allocator keeps it for reuse. :class:`MemoryRelease` watches how much is held
(:attr:`~bridge.ocf.limits.ClientLimits.held`) and, when a burst of at least ``BURST`` things
has fallen to a quarter of its peak, collects garbage (a flood's observations leave
reference cycles that Python's collector would reach only much later) and asks the C library
to return its free pages (glibc's ``malloc_trim``; without it, only the collection happens).
What was still held at that moment is freed later, so once it too has fallen to a quarter
the same is done once more (after a flood of observers, the first trim came with 527 things
still held; the second took the RSS from 67.7 to 52.2 MiB).

That returns what Python handed back to the C library. Python's own small-object allocator
hands back a 1 MiB arena only when every object in it is gone, which after a flood is seldom
the case; with ``PYTHONMALLOC=malloc`` (set by the shipped systemd unit) every object comes
from the C library and the trim returns nearly all of a flood (docs/ocf.md, "Limits per
client"; docs/benchmarks.md has the numbers).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable

log = logging.getLogger("ocfaj.ocf.limits")

#: Things held (observations, uploads, remembered requests) that make a burst worth a trim.
BURST = 256
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    """This process's resident memory in MiB (0 where /proc is not readable)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE / (1 << 20)
    except (OSError, ValueError, IndexError):
        return 0.0


def _malloc_trim() -> Callable[[], object] | None:
    # Imported at the first trim: ctypes costs about 0.3 MiB, and most gateways never trim.
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


def _no_trim() -> None:
    """Where the C library has no ``malloc_trim``: the collection alone."""


class MemoryRelease:
    """Trims the C library's heap after each burst of clients' state has been freed."""

    def __init__(self, trim: Callable[[], object] | None = None) -> None:
        #: the C library's trim, looked up at the first release (None given: glibc's).
        self._trim = trim
        self._peak = 0
        #: what was still held at the last trim, trimmed again once it has ended (0: done).
        self._rest = 0
        self.trims = 0

    @property
    def pending(self) -> bool:
        """True while a trim is still to come once what is held falls (a burst, or what
        was left at the last trim)."""
        return self._peak >= BURST or self._rest > 0

    def after(self, held: int) -> None:
        """Look at how much is ``held`` now (called every few seconds)."""
        self._peak = max(self._peak, held)
        if self._peak >= BURST and held <= self._peak // 4:
            peak, self._peak, self._rest = self._peak, 0, held
        elif self._rest and held <= self._rest // 4:
            peak, self._rest = self._rest, 0
        else:
            return
        self._release(peak, held)

    def _release(self, peak: int, held: int) -> None:
        before = rss_mib()
        gc.collect()
        if self._trim is None:
            self._trim = _malloc_trim() or _no_trim
        self._trim()
        self.trims += 1
        allocator = ("" if os.environ.get("PYTHONMALLOC") == "malloc" else
                     "; without PYTHONMALLOC=malloc Python keeps much of it for reuse")
        log.info("clients' CoAP state fell from %d to %d: free memory returned to the system "
                 "(RSS %.1f -> %.1f MiB%s)", peak, held, before, rss_mib(), allocator)
