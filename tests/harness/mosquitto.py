"""Moved to :mod:`bridge.sim.testing.mosquitto`; re-exported so existing tests keep working."""

from bridge.sim.testing.mosquitto import (
    STARTUP_TIMEOUT,
    Mosquitto,
    MosquittoFactory,
)

__all__ = [
    "STARTUP_TIMEOUT",
    "Mosquitto",
    "MosquittoFactory",
]
