"""The event loop's exception handler: errors nobody caught, reported without flooding the log.

Layer: ``bridge.daemon`` (installed by ``ocfaj run`` on its loop). It must not swallow an
error silently nor decide anything about it: it only words and rate-limits what asyncio
would have logged. Some errors are raised inside protocol libraries by what peers send
(aiocoap raises ``UnicodeDecodeError`` in its receive path for a Uri-Path that is not UTF-8),
and asyncio's default handler logs a full traceback at ERROR for each: anyone on the LAN could
fill a board's log. Here each kind of error (exception type and the line that raised it) gets
one concise line per ``interval``, with its traceback at debug level only; repeats within the
interval are counted and reported in one line when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("ocfaj.loop")

#: Kinds remembered at once; a flood of distinct kinds cannot grow memory beyond this.
_MAX_KINDS = 256


@dataclass
class _Window:
    opened: float
    what: str
    repeats: int = 0
    flush: asyncio.TimerHandle | None = None


class LoopErrorReporter:
    """An ``asyncio`` exception handler (``loop.set_exception_handler(reporter)``)."""

    def __init__(self, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        what = _describe(context, error)
        kind = _kind(context, error)
        window = self._windows.get(kind)
        now = self._clock()
        if window is not None and now - window.opened < self.interval:
            window.repeats += 1
            if window.flush is None:
                window.flush = loop.call_later(self.interval - (now - window.opened),
                                               self._close_window, kind)
            return
        if window is not None:
            self._close_window(kind)
        if len(self._windows) >= _MAX_KINDS:
            self._close_window(next(iter(self._windows)))
        self._windows[kind] = _Window(now, what)
        log.error("%s (the same error again within %.0f s is counted, not logged)", what,
                  self.interval)
        if error is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("traceback of: %s\n%s", what, "".join(traceback.format_exception(error)))

    def _close_window(self, kind: tuple[str, str]) -> None:
        window = self._windows.pop(kind, None)
        if window is None:
            return
        if window.flush is not None:
            window.flush.cancel()
        if window.repeats:
            log.error("%s: %d more times in %.0f s", window.what, window.repeats, self.interval)


def _describe(context: dict[str, Any], error: BaseException | None) -> str:
    message = str(context.get("message") or "unhandled error in the event loop")
    if error is None:
        return message
    return f"{message}: {type(error).__name__}: {error}"


def _kind(context: dict[str, Any], error: BaseException | None) -> tuple[str, str]:
    """What makes two errors the same: the exception type and where it was raised."""
    if error is None:
        return ("", str(context.get("message", "")))
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return (type(error).__qualname__, where)
