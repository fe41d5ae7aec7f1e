"""Log output for operators: ``time level component: message`` on standard error.

Layer: ``bridge.daemon``. Only the entry point calls :func:`setup_logging`; every other module
just uses ``logging.getLogger("ocfaj.<component>")`` (or ``__name__``). It must not import any
other part of ``bridge``.

The component is the logger name without the ``ocfaj.``/``bridge.`` prefix (``ocf.discovery``),
so a line
reads ``2024-05-01 12:00:03 WARNING ocf.discovery: Hall light (di 2f0c...) missed 3 rounds``.
The gateway's own loggers follow the configured level; protocol libraries (aiocoap, dbus-fast,
aiomqtt, zeroconf) are chatty below WARNING and log warnings and above only.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

#: The gateway's own logger trees: modules log as ``ocfaj.<component>`` (or ``__name__``,
#: ``bridge.<component>``); both follow the configured level.
_OWN_LOGGERS = ("bridge", "ocfaj")


class _OperatorFormatter(logging.Formatter):
    """Adds ``component``: the logger name relative to its own tree (``ocfaj.`` or ``bridge.``)."""

    def format(self, record: logging.LogRecord) -> str:
        name = record.name
        record.component = next((name[len(own) + 1:] for own in _OWN_LOGGERS
                                 if name.startswith(own + ".")), name)
        return super().format(record)


class _Handler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installed, so that a second call replaces it."""


def setup_logging(level: str, *, timestamps: bool = True, stream: TextIO | None = None) -> None:
    """Log the gateway's messages at ``level`` ("debug", "info", "warning", "error") and above.

    Calling it again (after the configuration is loaded) replaces the previous set-up.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    handler = _Handler(stream if stream is not None else sys.stderr)
    prefix = "%(asctime)s " if timestamps else ""
    handler.setFormatter(_OperatorFormatter(f"{prefix}%(levelname)s %(component)s: %(message)s",
                                            datefmt="%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(numeric, logging.WARNING))
    for own in _OWN_LOGGERS:
        logging.getLogger(own).setLevel(numeric)


def set_own_level(level: str) -> None:
    """Change the level of the gateway's own loggers while it runs (the web page's setting)."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    for own in _OWN_LOGGERS:
        logging.getLogger(own).setLevel(numeric)
