"""Moved to :mod:`bridge.sim.testing.dbus`; re-exported so existing tests keep working."""

from bridge.sim.testing.dbus import (
    STARTUP_TIMEOUT,
    DBusDaemon,
)

__all__ = [
    "STARTUP_TIMEOUT",
    "DBusDaemon",
]
