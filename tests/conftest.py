"""Shared pytest fixtures and the network isolation of the whole test run.

Isolation: when pytest runs as root, importing this file moves the pytest process into a
fresh, private network namespace (``unshare(CLONE_NEWNET)``, safe here because pytest is
still single-threaded) that holds only ``lo``, which is brought up. Every socket, broker,
dbus-daemon, simulated device and namespace a test creates lives in or below it: nothing a
test does can reach the machine's real interfaces, and no multicast leaves the machine.
mosquitto binds 127.0.0.1 inside it; ``ocf_network`` builds its bridge ``ocfbr0`` inside it.

The tests need root (``./scripts/test`` runs as root in CI). Not as root, the run is not
isolated, and every fixture that needs root fails loudly with a message saying so: tests
never skip.

Fixtures (function scope):

- ``dbus_daemon`` -> ``DBusDaemon``: started private bus; ``.address``, ``.pid``, ``.stop()``,
  ``.start()``, ``.restart()``. Nothing is set globally: pass ``.address`` explicitly.
- ``mosquitto`` -> ``Mosquitto``: started broker; ``.host``, ``.port``, ``.stop()``,
  ``.start()``, ``.restart()``.
- ``mosquitto_factory(config_extra="", listeners=(), allow_anonymous=True,
  persistence=False)`` -> a started ``Mosquitto``; any number per test.
- ``ocf_network`` -> ``OcfNetwork``: bridge ``ocfbr0`` with ``.local`` and ``.add_host(name)``.

Every daemon, namespace, link and process is removed at teardown, failed test or not.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.harness.dbus import DBusDaemon
from tests.harness.mosquitto import Mosquitto, MosquittoFactory
from tests.harness.netns import (
    OcfNetwork,
    enter_private_network_namespace,
    own_namespaces,
    remove_stale_namespaces,
    require_root,
)

IS_ROOT = os.geteuid() == 0

if IS_ROOT:
    enter_private_network_namespace()
    remove_stale_namespaces()

# One descriptor per bus connection and per CoAP context: scale tests open thousands, and
# every daemon the fixtures start inherits this limit.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))


def pytest_report_header() -> str:
    if IS_ROOT:
        return f"network: private network namespace of pid {os.getpid()} (only lo)"
    return "network: NOT isolated (not root); fixtures that need root will fail"


@pytest.fixture
def dbus_daemon(tmp_path: Path) -> Iterator[DBusDaemon]:
    """A started private dbus-daemon, stopped at teardown."""
    daemon = DBusDaemon(tmp_path / "dbus")
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[MosquittoFactory]:
    """Start brokers with extra configuration; every one is stopped at teardown.

    ``mosquitto_factory(config_extra: str = "", listeners: Sequence[str] = (),
    allow_anonymous: bool = True, persistence: bool = False) -> Mosquitto``.
    """
    brokers: list[Mosquitto] = []

    def start(
        config_extra: str = "",
        listeners: Sequence[str] = (),
        *,
        allow_anonymous: bool = True,
        persistence: bool = False,
    ) -> Mosquitto:
        broker = Mosquitto(
            tmp_path / f"mosquitto-{len(brokers)}",
            config_extra=config_extra,
            listeners=listeners,
            allow_anonymous=allow_anonymous,
            persistence=persistence,
        )
        brokers.append(broker)
        broker.start()
        return broker

    try:
        yield start
    finally:
        for broker in brokers:
            broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> Mosquitto:
    """A started broker with anonymous access on one plain 127.0.0.1 listener."""
    return mosquitto_factory()


@pytest.fixture
def ocf_network() -> Iterator[OcfNetwork]:
    """The bridge ``ocfbr0`` and device hosts; all removed at teardown, with a leak check."""
    require_root()
    network = OcfNetwork()
    try:
        network.setup()
        yield network
    finally:
        network.close()
        leaked = own_namespaces()
        assert not leaked, f"network namespaces left behind: {leaked}"
