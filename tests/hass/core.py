"""Real Home Assistant core for the tests: prepared config directory, started, driven by REST.

Test support only. Home Assistant runs from its own virtual environment (``scripts/ha-install``
makes it, cached per machine and version) with ``--skip-pip``: the tests have no network. The
configuration directory is made the way a person's install would end up after the UI steps:

- ``configuration.yaml``: only the HTTP server on a free 127.0.0.1 port, and the logger;
- ``.storage/onboarding``: every onboarding step done;
- ``.storage/core.config_entries``: one MQTT config entry for the test's broker, discovery on;
- a user and a long-lived access token, made by HA's auth manager (``make_token.py``).

States, service calls and template rendering go through the REST API with that token; the
entity and device registries through the websocket API (``ws_call.py``, in HA's venv).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.sim.testing.procs import free_tcp_port

REPO = Path(__file__).resolve().parents[2]
#: The Home Assistant release the tests run unless ``OCFAJ_HA_VENV`` names another install
#: (``scripts/test-ha VERSION`` does); scripts/ha-install installs it.
VERSION = "2025.4.4"
STARTUP_TIMEOUT = 240.0


def home_assistant_venv() -> Path:
    """The venv of Home Assistant ``VERSION``: ``OCFAJ_HA_VENV``, or installed (cached) now."""
    given = os.environ.get("OCFAJ_HA_VENV")
    if given:
        return Path(given)
    done = subprocess.run([str(REPO / "scripts" / "ha-install")], capture_output=True,
                          text=True, env={**os.environ, "OCFAJ_HA_VERSION": VERSION},
                          check=False)
    assert done.returncode == 0, f"scripts/ha-install failed:\n{done.stderr[-4000:]}"
    return Path(done.stdout.strip().splitlines()[-1])


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1))


class HomeAssistantCore:
    """One Home Assistant process with its own configuration directory under ``directory``."""

    def __init__(self, venv: Path, directory: Path, broker_host: str, broker_port: int) -> None:
        self.venv = venv
        self.config = directory
        self.broker = (broker_host, broker_port)
        self.port = 0
        self.token = ""
        #: The release installed in ``venv`` (read from it by :meth:`prepare`).
        self.version = ""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.config / "home-assistant.log"

    def prepare(self) -> None:
        found = subprocess.run([str(self.venv / "bin" / "python"), "-c",
                                "from homeassistant.const import __version__; "
                                "print(__version__)"],
                               capture_output=True, text=True, check=False, timeout=120)
        assert found.returncode == 0, found.stderr[-4000:]
        self.version = found.stdout.strip()
        self.port = free_tcp_port()
        self.config.mkdir(parents=True, exist_ok=True)
        (self.config / "configuration.yaml").write_text(
            "homeassistant:\n  name: ocfaj test\n  unit_system: metric\n  time_zone: UTC\n"
            "  latitude: 0\n  longitude: 0\n  elevation: 0\n  country: DE\n"
            "  currency: EUR\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.port}\n"
            "logger:\n  default: warning\n")
        storage = self.config / ".storage"
        _write_json(storage / "onboarding", {
            "version": 4, "minor_version": 1, "key": "onboarding",
            "data": {"done": ["user", "core_config", "analytics", "integration"]}})
        host, port = self.broker
        _write_json(storage / "core.config_entries", {
            "version": 1, "minor_version": 1, "key": "core.config_entries",
            "data": {"entries": [{
                "entry_id": "0123456789abcdef0123456789abcdef", "version": 1,
                "minor_version": 2, "domain": "mqtt", "title": f"{host}:{port}",
                "data": {"broker": host, "port": port},
                "options": {"discovery": True, "discovery_prefix": "homeassistant"},
                "pref_disable_new_entities": False, "pref_disable_polling": False,
                "source": "user", "unique_id": None, "disabled_by": None}]}})
        made = subprocess.run([str(self.venv / "bin" / "python"),
                               str(Path(__file__).with_name("make_token.py")), str(self.config)],
                              capture_output=True, text=True, check=False, timeout=120)
        assert made.returncode == 0, made.stderr[-4000:]
        self.token = made.stdout.strip().splitlines()[-1]

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(self.venv / "bin" / "hass"), "--config", str(self.config), "--skip-pip",
             "--log-file", str(self.log_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.wait_for(lambda: self._running(), "Home Assistant running", STARTUP_TIMEOUT)

    def _running(self) -> bool:
        try:
            return bool(self.get("/api/config").get("state") == "RUNNING")
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    # -- REST ------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return json.loads(self._raw(method, path, body))

    def _raw(self, method: str, path: str, body: Any = None) -> str:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return str(answer.read().decode())

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def states(self) -> dict[str, dict[str, Any]]:
        return {s["entity_id"]: s for s in self.get("/api/states")}

    def service(self, domain: str, service: str, **data: Any) -> Any:
        return self._call("POST", f"/api/services/{domain}/{service}", data)

    def template(self, text: str) -> str:
        """``text`` rendered by Home Assistant (the REST API answers with plain text)."""
        return self._raw("POST", "/api/template", {"template": text})

    def ws(self, command: dict[str, Any]) -> Any:
        """The result of one websocket command (registries are only there, not in REST)."""
        done = subprocess.run([str(self.venv / "bin" / "python"),
                               str(Path(__file__).with_name("ws_call.py")), str(self.port),
                               self.token, json.dumps(command)],
                              capture_output=True, text=True, check=False, timeout=60)
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(done.stdout)

    # -- waiting and logs ------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], Any], what: str, within: float = 30.0) -> Any:
        deadline = time.monotonic() + within
        while True:
            result = predicate()
            if result:
                return result
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"Home Assistant exited ({self.process.returncode}) "
                                     f"waiting for {what}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {within} s:\n{self.log_tail()}")
            time.sleep(0.25)

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def log_tail(self) -> str:
        return self.log_text()[-6000:]

    def problems(self, pattern: str) -> list[str]:
        """Log entries of level WARNING or ERROR whose first line (logger and message, not
        a traceback's file paths) matches ``pattern``."""
        entries = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", self.log_text())
        return [e for e in entries if re.search(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ", e)
                and re.search(pattern, e.split("\n", 1)[0], re.IGNORECASE)]


__all__ = ["VERSION", "HomeAssistantCore", "home_assistant_venv"]
