"""A real gateway (``ocfaj run``) under test: a configuration suited to tests, and its devices.

Layer: ``bridge.sim.testing`` (test kit; runs the gateway as a subprocess, so the kit imports
neither ``bridge.daemon`` nor ``bridge.mqtt``). :func:`config_for_tests` shrinks every timer so
departures and returns show within seconds, keeps state in the test's temporary directory and
puts the AllJoyn side on the test's private bus. :class:`TestGateway` adds to
:class:`~bridge.sim.processes.GatewayProcess` what tests ask of a running gateway: what it
bridged (``ocfaj devices --json``), where its state lives, and a stop by any signal.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bridge.sim.processes import GatewayProcess
from bridge.sim.testing import toml_text
from bridge.sim.testing.netns import Host

DISCOVERY_INTERVAL = 1.0
MISSED_ROUNDS = 2
#: ``bridge.virtual_grace_period``: how long a virtual device of another bridge waits.
GRACE_PERIOD = 1.0
#: How long a departed device may take to be noticed, by the test configuration's own promise
#: (a reply window and one request timeout may come on top before the gateway acts).
DETECTION_TIME = DISCOVERY_INTERVAL * (MISSED_ROUNDS + 1)


def config_for_tests(name: str, state_dir: Path, bus: str, interface: str, *,
                server_port: int = 5683, unicast_peers: Sequence[str] = (),
                overrides: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """Gateway TOML for tests; ``overrides`` maps section -> keys that replace the defaults."""
    tables: dict[str, dict[str, Any]] = {
        "gateway": {"name": name, "state_dir": str(state_dir), "log_level": "debug",
                    "log_timestamps": True},
        "bridge": {"virtual_grace_period": GRACE_PERIOD},
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
    """A gateway process built by the ``gateway`` / ``gateway_factory`` fixtures; stopped at
    teardown. ``start()`` again after ``stop()`` restarts it on the same configuration and
    state directory; its log continues."""

    __test__ = False  # a kit class, not a test class for pytest to collect

    def __init__(self, config_text: str, workdir: Path, *, run: Any,
                 host: Host | None = None, **kwargs: Any) -> None:
        super().__init__(config_text, workdir, **kwargs)
        self._run = run
        self.host = host
        """The ``ocf_network`` host the gateway runs in (``ocf_network.local`` unless it got
        a host of its own)."""

    @property
    def state_dir(self) -> Path:
        """``gateway.state_dir`` of its configuration (``identities.json``, the MQTT outbox)."""
        with open(self.config_path, "rb") as config:
            return Path(tomllib.load(config)["gateway"]["state_dir"])

    def stop(self, within: float = 20.0, *, sig: signal.Signals = signal.SIGTERM) -> int | None:
        """Send ``sig`` (SIGTERM; SIGINT is what Ctrl-C sends) and wait up to ``within`` s;
        returns the exit status (0: clean stop; negative: killed), None if never started. A
        gateway that does not stop in time is killed."""
        running = self.process
        # GatewayProcess.stop sends SIGTERM itself; any other signal goes first, and a gateway
        # that ignores it is killed so that the status says so instead of a later SIGTERM's.
        if sig is not signal.SIGTERM and running is not None and running.poll() is None:
            running.send_signal(sig)
            try:
                running.wait(within)
            except subprocess.TimeoutExpired:
                self.kill()
        return super().stop(within)

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
