"""The simulation kit's real peers for integration tests, started and torn down per test.

Layer: ``bridge.sim.testing`` (test kit). Product code never imports it; the pytest plugin
(``bridge.sim.pytest_plugin``) and the project's own tests do. It runs external daemons as
subprocesses and imports no protocol library, so it adds nothing to the gateway's imports.

- :mod:`~bridge.sim.testing.dbus`: ``DBusDaemon``, a private dbus-daemon with raised limits.
- :mod:`~bridge.sim.testing.mosquitto`: ``Mosquitto``, a real broker on free 127.0.0.1 ports.
- :mod:`~bridge.sim.testing.netns`: the private network namespace of a test run and
  ``OcfNetwork``, a bridge plus device hosts in their own network namespaces (root);
  :mod:`~bridge.sim.testing.netns_runs` records which run made which namespace.
- :mod:`~bridge.sim.testing.loopback`: ``LoopbackNetwork``, the unicast-only stand-in without
  root.
- :mod:`~bridge.sim.testing.procs`: free ports, ``wait_for``/``await_until``, process stopping.
- :mod:`~bridge.sim.testing.pki`: ``TestPki``, manufacturer CAs and device certificates to
  the OCF profile as PEM files (valid, expired, from an untrusted CA; the ``secure`` extra).
- :mod:`~bridge.sim.testing.devices`, :mod:`~bridge.sim.testing.gateway`,
  :mod:`~bridge.sim.testing.gateways`, :mod:`~bridge.sim.testing.kit`: what the plugin's
  device and gateway fixtures give and share.
"""

from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.loopback import LoopbackNetwork
from bridge.sim.testing.mosquitto import Mosquitto, MosquittoFactory
from bridge.sim.testing.netns import Host, OcfNetwork, require_root
from bridge.sim.testing.procs import await_until, free_tcp_port, free_udp_port, wait_for

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
