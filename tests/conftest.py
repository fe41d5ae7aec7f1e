"""The network isolation of the project's own test run; fixtures come from the ocfaj plugin.

Isolation: when pytest runs as root, importing this file moves the pytest process into a
fresh, private network namespace (``unshare(CLONE_NEWNET)``, safe here because pytest is
still single-threaded) that holds only ``lo``, which is brought up. Every socket, broker,
dbus-daemon, simulated device and namespace a test creates lives in or below it: nothing a
test does can reach the machine's real interfaces, and no multicast leaves the machine.
This is what a user's suite gets with the plugin's ``--ocfaj-isolate`` flag (or the ini
option ``ocfaj_isolate = true``); the project does it at import so no flag can be forgotten.

The tests need root (``./scripts/test`` runs as root in CI). Not as root, the run is not
isolated, and every fixture that needs root fails loudly with a message saying so: tests
never skip. That is why this suite pins the plugin's OCF network to ``netns`` (the plugin
would otherwise fall back to loopback unicast without root).

The fixtures (``dbus_daemon``, ``mosquitto``, ``mosquitto_factory``, ``ocf_network``,
``ocf_device``, ``alljoyn_device``, ``gateway``, ``gateway_factory``) are the plugin's,
``bridge.sim.pytest_plugin``, registered through the ``pytest11`` entry point;
docs/testing-with-simulated-devices.md describes them.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.model import load_catalogue
from bridge.model.types import Catalogue
from bridge.sim.testing.netns import enter_private_network_namespace, remove_stale_namespaces
from tests.fault_suite import Record, surface_of

# pytester runs user-style test files against the installed plugin (tests/kit); pytest accepts
# pytest_plugins only in the top-level conftest.
pytest_plugins = ["pytester"]

if os.geteuid() == 0:
    enter_private_network_namespace()
    remove_stale_namespaces()


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("ocfaj_ocf_network") is None:
        config.option.ocfaj_ocf_network = "netns"


# In-process building blocks shared by the side tests (tests/ocf, tests/alljoyn, tests/mqtt);
# a folder's conftest overrides one when it needs more (the MQTT tests register an origin).
@pytest.fixture
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def book() -> IdentityBook:
    return IdentityBook()


@pytest.fixture
def registry() -> Registry:
    return Registry(EventBus())


# The fault suite, counted per surface (tests/fault_suite.py): test outcomes and the generated
# cases fuzz tests record, printed at the end of the run.
_FAULT_TESTS: dict[str, Counter[str]] = {}
_FAULT_CASES: dict[str, dict[str, int]] = {}


def _surface(nodeid: str) -> str | None:
    return surface_of(nodeid.split("::", 1)[0])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    surface = _surface(report.nodeid)
    if surface is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _FAULT_TESTS.setdefault(surface, Counter())[report.outcome] += 1


@pytest.fixture
def fuzz_cases(request: pytest.FixtureRequest) -> Record:
    """``fuzz_cases(what, n)``: count ``n`` generated cases for the fault suite's summary."""
    surface = _surface(request.node.nodeid) or "other"

    def record(what: str, cases: int) -> None:
        counts = _FAULT_CASES.setdefault(surface, {})
        counts[what] = counts.get(what, 0) + cases

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    surfaces = sorted(set(_FAULT_TESTS) | set(_FAULT_CASES))
    if not surfaces:
        return
    terminalreporter.section("fault suite: cases per surface")
    for surface in surfaces:
        outcomes = _FAULT_TESTS.get(surface, Counter())
        cases = _FAULT_CASES.get(surface, {})
        parts = [f"{outcomes[o]} {o}" for o in ("passed", "failed", "skipped") if outcomes[o]]
        generated = sum(cases.values())
        line = f"{surface}: {', '.join(parts) or 'no'} tests"
        if generated:
            detail = "; ".join(f"{what} {n}" for what, n in cases.items())
            line += f", {generated} generated cases ({detail})"
        terminalreporter.write_line(line)
    total = sum(sum(c.values()) for c in _FAULT_TESTS.values())
    generated = sum(sum(c.values()) for c in _FAULT_CASES.values())
    terminalreporter.write_line(f"total: {total} tests, {generated} generated cases")
