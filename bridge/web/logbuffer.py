"""The recent log lines the page shows: a bounded ring of records.

Layer: ``bridge.web`` (pure: :mod:`logging` only). Attached to the ``ocfaj`` logger while the
page runs; every record from ``debug`` up is kept (the last :data:`KEPT`), whatever level the
console logs at, so the page can show any level it is asked for.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

KEPT = 500
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


class RecentLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._records: collections.deque[tuple[float, int, str, str]] = collections.deque(
            maxlen=KEPT)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            message = str(record.msg)
        self._records.append((record.created, record.levelno, record.name, message))

    def lines(self, level: str, limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` records at ``level`` or above, oldest first."""
        least = LEVELS[level]
        chosen = [r for r in self._records if r[1] >= least][-limit:]
        return [{"time": t, "level": logging.getLevelName(n).lower(), "logger": name,
                 "message": msg} for t, n, name, msg in chosen]
