"""A real mosquitto broker for tests, on free 127.0.0.1 ports, configured from a temporary file.

Layer: ``bridge.sim.testing`` (test kit; runs the ``mosquitto`` executable, imports no MQTT
library). In an isolated test process (``--ocfaj-isolate``) 127.0.0.1 is a loopback no other
program on the machine shares. Extra configuration (TLS, ``password_file``, bridges) is
passed in as mosquitto.conf lines by the test that needs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bridge.sim.testing.procs import (
    ManagedDaemon,
    free_tcp_port,
    read_log,
    tcp_accepts,
    wait_for,
)

STARTUP_TIMEOUT = 10.0


class MosquittoFactory(Protocol):
    """The ``mosquitto_factory`` fixture: start one more broker, stopped at teardown."""

    def __call__(
        self,
        config_extra: str = "",
        listeners: Sequence[str] = (),
        *,
        allow_anonymous: bool = True,
        persistence: bool = False,
    ) -> Mosquitto: ...


class Mosquitto(ManagedDaemon):
    """One mosquitto process. Construct, then ``start()``; ``stop()`` is idempotent.

    The first listener (``port``) carries ``config_extra``; each entry of ``listeners`` is
    one more ``listener <port> 127.0.0.1`` followed by that entry's lines (``ports[1:]``).
    With ``per_listener_settings false`` (mosquitto's default) options such as
    ``allow_anonymous`` or ``password_file`` are global wherever they appear, while TLS
    options (``cafile``, ``certfile``, ``keyfile``, ``require_certificate``) belong to the
    listener they follow. Ports are chosen at the first ``start()`` and kept across
    ``stop()``/``start()``/``restart()``. With ``persistence=True`` retained messages and
    queued QoS 1/2 messages for persistent sessions survive a restart (saved on SIGTERM).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        directory: Path,
        *,
        config_extra: str = "",
        listeners: Sequence[str] = (),
        allow_anonymous: bool = True,
        persistence: bool = False,
    ) -> None:
        self.directory = directory
        """Holds ``mosquitto.conf``, ``mosquitto.log`` and, with persistence, ``mosquitto.db``."""
        self.config_path = directory / "mosquitto.conf"
        self.log_path = directory / "mosquitto.log"
        self.config_extra = config_extra
        self.listeners = tuple(listeners)
        self.allow_anonymous = allow_anonymous
        self.persistence = persistence
        self._ports: list[int] = []
        super().__init__("mosquitto")

    @property
    def port(self) -> int:
        """The first listener's port (plain MQTT unless ``config_extra`` made it TLS)."""
        return self.ports[0]

    @property
    def ports(self) -> list[int]:
        """All listener ports: ``[port, *one per entry of listeners]``."""
        if not self._ports:
            raise RuntimeError("mosquitto has not been started yet: no ports chosen")
        return list(self._ports)



    def log_text(self) -> str:
        """What the broker logged so far (all starts), for assertions and error messages."""
        return read_log(self.log_path, limit=1_000_000)

    def start(self) -> None:
        """Start the broker and return once every listener port accepts TCP connections."""
        if self.running:
            return
        executable = shutil.which("mosquitto") or _sbin("mosquitto")
        if executable is None:
            raise RuntimeError("mosquitto not found: install Debian package mosquitto")
        if not self._ports:
            self._ports = _distinct_free_ports(1 + len(self.listeners))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self._config())
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [executable, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = self._proc
        try:
            wait_for(
                lambda: (
                    proc.poll() is not None
                    or all(tcp_accepts(self.host, port) for port in self._ports)
                ),
                STARTUP_TIMEOUT,
                message=f"mosquitto to listen on {self.host}:{self._ports}",
            )
        except TimeoutError:
            self.stop()
            raise
        if proc.poll() is not None:
            raise RuntimeError(
                f"mosquitto exited with {proc.returncode} at start "
                f"(config {self.config_path}):\n{read_log(self.log_path)}"
            )

    def stop(self) -> None:
        """Stop the broker with SIGTERM (it saves persistence then), SIGKILL if it hangs."""
        self._stop_process()

    def _config(self) -> str:
        lines = ["# written by bridge/sim/testing/mosquitto.py", "log_dest stderr", "log_type all"]
        if os.geteuid() == 0:
            # Otherwise mosquitto drops to user "mosquitto" and cannot read the test's
            # certificates, password file or persistence directory.
            lines.append("user root")
        lines.append(f"allow_anonymous {'true' if self.allow_anonymous else 'false'}")
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.directory}/",
                "persistence_file mosquitto.db",
            ]
        else:
            lines.append("persistence false")
        lines += [f"listener {self._ports[0]} {self.host}", self.config_extra]
        for port, block in zip(self._ports[1:], self.listeners, strict=True):
            lines += [f"listener {port} {self.host}", block]
        return "\n".join(lines) + "\n"


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_tcp_port()
        if port not in ports:
            ports.append(port)
    return ports


def _sbin(name: str) -> str | None:
    # Debian installs mosquitto in /usr/sbin, which a non-root PATH often lacks.
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None
