"""The gateway's log level, read and changed at run time (``bridge/request/log_level``).

Layer: ``bridge.mqtt`` (standard library only). The daemon sets the level of its own loggers
at start (``[gateway] log_level``); a request changes the same loggers until the next start.
"""

from __future__ import annotations

import logging

from bridge.mqtt.hass_gateway import LOG_LEVELS

#: the loggers of this project (the daemon's set-up configures the same ones).
_OWN_LOGGERS = ("bridge", "ocfaj")


def log_level() -> str:
    """The current level of the gateway's loggers, as ``[gateway] log_level`` spells it."""
    name = logging.getLevelName(logging.getLogger("ocfaj").getEffectiveLevel()).lower()
    return name if name in LOG_LEVELS else "info"


def set_log_level(level: object) -> str:
    """Set the gateway's loggers to ``level``; raises ValueError for an unknown level."""
    if not isinstance(level, str) or level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    numeric = logging.getLevelNamesMapping()[level.upper()]
    for own in _OWN_LOGGERS:
        logging.getLogger(own).setLevel(numeric)
    return level.lower()
