"""Test harness: real peers for the gateway's tests, started and torn down per test.

- ``tests.harness.dbus``: ``DBusDaemon``, a private dbus-daemon with raised limits.
- ``tests.harness.mosquitto``: ``Mosquitto``, a real broker on free 127.0.0.1 ports.
- ``tests.harness.netns``: the private network namespace of the test run and ``OcfNetwork``,
  a bridge plus device hosts in their own network namespaces.
- ``tests.harness.procs``: free ports, ``wait_for``/``await_until``, process stopping.

The pytest fixtures that hand these out live in ``tests/conftest.py``. Nothing under
``bridge/`` imports this package.
"""

from tests.harness.dbus import DBusDaemon
from tests.harness.mosquitto import Mosquitto, MosquittoFactory
from tests.harness.netns import Host, OcfNetwork, require_root
from tests.harness.procs import await_until, free_tcp_port, free_udp_port, wait_for

__all__ = [
    "DBusDaemon",
    "Host",
    "Mosquitto",
    "MosquittoFactory",
    "OcfNetwork",
    "await_until",
    "free_tcp_port",
    "free_udp_port",
    "require_root",
    "wait_for",
]
