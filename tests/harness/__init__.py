"""The project's name for the simulation kit's test harness (``bridge.sim.testing``).

The harness moved into the product so that users' test suites get it through the pytest
plugin (``bridge.sim.pytest_plugin``); these modules re-export it so that the project's tests
keep importing ``tests.harness.procs``, ``tests.harness.netns`` and the others.
"""

from bridge.sim.testing import (
    DBusDaemon,
    Host,
    LoopbackNetwork,
    Mosquitto,
    MosquittoFactory,
    OcfNetwork,
    await_until,
    free_tcp_port,
    free_udp_port,
    require_root,
    wait_for,
)

__all__ = [
    "DBusDaemon",
    "Host",
    "LoopbackNetwork",
    "Mosquitto",
    "MosquittoFactory",
    "OcfNetwork",
    "await_until",
    "free_tcp_port",
    "free_udp_port",
    "require_root",
    "wait_for",
]
