"""A real gateway (``ocfaj run``) under test: a configuration suited to tests, and its devices.

Layer: ``bridge.sim.testing`` (test kit; runs the gateway as a subprocess, so the kit imports
neither ``bridge.daemon`` nor ``bridge.mqtt``). :func:`config_for_tests` shrinks every timer so
departures and returns show within seconds, keeps state in the test's temporary directory and
puts the AllJoyn side on the test's private bus. :class:`TestGateway` adds :meth:`devices`,
what ``ocfaj devices --json`` reports, to :class:`~bridge.sim.processes.GatewayProcess`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.sim.processes import GatewayProcess
from bridge.sim.testing import toml_text

DISCOVERY_INTERVAL = 1.0
MISSED_ROUNDS = 2


def config_for_tests(name: str, state_dir: Path, bus: str, interface: str, *,
                server_port: int = 5683, unicast_peers: Sequence[str] = (),
                overrides: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Gateway TOML for tests; ``overrides`` maps section -> keys that replace the defaults."""
    tables: dict[str, dict[str, Any]] = {
        "gateway": {"name": name, "state_dir": str(state_dir), "log_level": "debug",
                    "log_timestamps": True},
        "bridge": {"virtual_grace_period": 1.0},
        "ocf": {"interfaces": [interface], "discovery_interval": DISCOVERY_INTERVAL,
                "missed_rounds": MISSED_ROUNDS, "request_timeout": 2.0,
                "server_port": server_port, "unicast_peers": list(unicast_peers)},
        "alljoyn": {"bus": bus, "call_timeout": 3.0, "scan_timeout": 1.0,
                    "reconnect_max_delay": 1.0},
        "mqtt": {"enabled": False},
    }
    for section, values in (overrides or {}).items():
        tables.setdefault(section, {}).update(values)
    mqtt = (overrides or {}).get("mqtt", {})
    if mqtt.get("host") and "enabled" not in mqtt:
        # Naming a broker means "use it", as in the product's own configuration rules.
        tables["mqtt"]["enabled"] = True
    return toml_text.sections(tables)


class TestGateway(GatewayProcess):
    """A gateway process built by the ``gateway`` fixture; stopped at teardown."""

    __test__ = False  # a kit class, not a test class for pytest to collect

    def __init__(self, config_text: str, workdir: Path, *, run: Any, **kwargs: Any) -> None:
        super().__init__(config_text, workdir, **kwargs)
        self._run = run

    def devices(self, within: float = 15.0) -> list[dict[str, Any]]:
        """What the running gateway knows (``ocfaj devices --json``): one dict per device
        with ``origin``, ``name``, ``id``, ``available``, ``capabilities`` (with ``state``),
        ``bridged_to``..."""
        done: subprocess.CompletedProcess[str] = self._run(
            [sys.executable, "-m", "bridge", "devices", "--json", "--config",
             str(self.config_path)], capture_output=True, text=True, timeout=within)
        if done.returncode != 0:
            raise RuntimeError(f"ocfaj devices failed ({done.returncode}): {done.stderr}")
        rows: list[dict[str, Any]] = json.loads(done.stdout)
        return rows

    def device(self, name: str, origin: str = "") -> dict[str, Any] | None:
        """The row of the device called ``name`` (from ``origin`` if given), or None."""
        return next((row for row in self.devices() if row.get("name") == name
                     and (not origin or row.get("origin") == origin)), None)
