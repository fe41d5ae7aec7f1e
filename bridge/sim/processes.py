"""Simulator and gateway processes for integration tests: start, drive, await, stop.

Layer: ``bridge.sim`` (test kit). :class:`SimProcess` runs ``ocfaj simulate ...`` and speaks
its JSON-lines control protocol (``bridge.sim.control``); :class:`GatewayProcess` runs the real
``ocfaj run --config FILE`` and knows it is ready when the gateway sends systemd's ``READY=1``
to a notify socket the test owns. Both take a ``popen`` callable so a test can start them inside
a network namespace (``ip netns exec``) or directly. They are used by the pytest plugin
(``bridge.sim.pytest_plugin``) and by the project's own end-to-end tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

Popen = Callable[..., "subprocess.Popen[Any]"]
Event = dict[str, Any]


class SimProcess:
    """A simulator process (``ocfaj simulate ocf|alljoyn|--scenario``) under test control."""

    def __init__(self, args: Sequence[str], *, popen: Popen = subprocess.Popen,
                 env: Mapping[str, str] | None = None, log_path: Path | None = None) -> None:
        self.args = [sys.executable, "-m", "bridge", "simulate", *args]
        self._popen = popen
        self._env = dict(env or os.environ)
        self.log_path = log_path
        self.process: subprocess.Popen[Any] | None = None
        #: every event the simulator reported, in order.
        self.events: list[Event] = []
        self._taken: set[int] = set()
        self._arrived = threading.Condition()
        self._reader: threading.Thread | None = None
        self._stderr: Any = None

    def start(self, ready: int = 1, within: float = 20.0) -> list[Event]:
        """Start and wait for ``ready`` devices to report ready; returns their events."""
        self._stderr = open(self.log_path, "ab") if self.log_path else None
        self.process = self._popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=self._stderr or subprocess.DEVNULL, env=self._env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return [self.wait_event(lambda e: e.get("event") == "ready", within)
                for _ in range(ready)]

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                with self._arrived:
                    self.events.append(event)
                    self._arrived.notify_all()

    def send(self, command: Mapping[str, Any]) -> None:
        """Write one control command (``{"cmd": "set", ...}``)."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()

    def set(self, device: str, capability: str, values: Mapping[str, Any]) -> None:
        """Change a device's state from outside (observers get notified)."""
        self.send({"cmd": "set", "device": device, "capability": capability,
                   "values": dict(values)})

    def wait_event(self, predicate: Callable[[Event], bool], within: float = 10.0) -> Event:
        """The first event for which ``predicate`` holds and that no earlier wait returned.

        Events that do not match stay available to later waits with other predicates.
        """
        deadline = time.monotonic() + within
        with self._arrived:
            while True:
                for index, event in enumerate(self.events):
                    if index not in self._taken and predicate(event):
                        self._taken.add(index)
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching simulator event within {within} s; "
                                       f"events so far: {self.events[-10:]}")
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"simulator exited with {self.process.returncode}; "
                                       f"events: {self.events[-10:]}")
                self._arrived.wait(min(left, 0.5))

    def wait_received(self, device: str, capability: str, within: float = 10.0) -> Event:
        """The next write a client made to ``device``'s ``capability``."""
        return self.wait_event(lambda e: e.get("event") == "received"
                               and e.get("device") == device
                               and e.get("capability") == capability, within)

    def received(self, device: str = "") -> list[Event]:
        return [e for e in self.events if e.get("event") == "received"
                and (not device or e.get("device") == device)]

    def stop(self, within: float = 10.0) -> int | None:
        """Ask the simulator to stop; kill it if it does not."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.send({"cmd": "stop"})
            try:
                self.process.wait(within)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return self.process.returncode


class NotifySocket:
    """A unix datagram socket that receives sd_notify messages (READY=1, WATCHDOG=1...)."""

    def __init__(self) -> None:
        # A short directory of its own: unix socket paths are limited to 107 bytes, which deep
        # test directories exceed.
        self._dir = Path(tempfile.mkdtemp(prefix="ocfaj-notify-", dir="/tmp"))
        self.path = str(self._dir / "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self.messages: list[str] = []

    def wait_for(self, word: str, within: float) -> None:
        deadline = time.monotonic() + within
        while not any(word in m.split("\n") for m in self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {word} within {within} s (got {self.messages})")
            self._sock.settimeout(min(left, 0.5))
            with contextlib.suppress(TimeoutError):
                self.messages.append(self._sock.recv(4096).decode())

    def close(self) -> None:
        self._sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            self._dir.rmdir()


class GatewayProcess:
    """The real ``ocfaj run --config FILE`` as a subprocess."""

    def __init__(self, config_text: str, workdir: Path, *, popen: Popen = subprocess.Popen,
                 env: Mapping[str, str] | None = None, name: str = "gateway") -> None:
        self.workdir = workdir
        self.name = name
        self.config_path = workdir / f"{name}.toml"
        self.config_path.write_text(config_text)
        self.log_path = workdir / f"{name}.log"
        self._popen = popen
        self._env = dict(env or os.environ)
        self.process: subprocess.Popen[Any] | None = None
        self.notify: NotifySocket | None = None

    def start(self, within: float = 20.0) -> None:
        """Start and wait until the gateway reports READY=1."""
        self.notify = NotifySocket()
        env = {**self._env, "NOTIFY_SOCKET": self.notify.path}
        with open(self.log_path, "ab") as log:
            self.process = self._popen(
                [sys.executable, "-m", "bridge", "run", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            self.notify.wait_for("READY=1", within)
        except TimeoutError:
            raise TimeoutError(f"gateway not ready within {within} s:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, within: float = 20.0) -> int | None:
        """SIGTERM and wait; returns the exit status (0 for a clean stop)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(within)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.notify is not None:
            self.notify.close()
            self.notify = None
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the gateway gets no chance to clean up (crash and power-cut tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
