"""Start the firmware under CPython in a test host, as a software OCF device.

``start_host_device(host, tmp_dir, config=None)`` runs ``python -m firmware.host`` inside
``host`` (a ``bridge.sim.testing.netns.Host``), waits for its ``ready`` line and returns a
``HostDevice``: the control handle that plays the hardware (``set_pin``, ``set_temperature``),
reads what the firmware did (``wait_event("pin 5 1")``) and knows the device's ``di`` and
ports. The process belongs to the host: ``OcfNetwork.close()`` kills it at teardown; ``stop()``
ends it earlier. Gateway tests use it the same way.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from bridge.sim.testing.netns import Host

REPO = Path(__file__).resolve().parents[2]
BOARD_CONFIG = REPO / "firmware" / "boards" / "host" / "config.json"
READY_TIMEOUT = 30.0


def host_config(**network: Any) -> dict[str, Any]:
    """The shipped host board configuration, with ``network`` keys overridden."""
    config: dict[str, Any] = json.loads(BOARD_CONFIG.read_text())
    config["network"].update(network)
    return config


class HostDevice:
    """Control handle of one running firmware process (see module docstring)."""

    def __init__(self, proc: subprocess.Popen[str], host: Host, log_path: Path) -> None:
        self.proc = proc
        self.host = host
        self.log_path = log_path
        self.di = ""
        self.port4 = 0
        self.port6 = 0
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.strip())

    def wait_event(self, prefix: str, timeout: float = 10.0) -> str:
        """The next output line starting with ``prefix``; earlier other lines are dropped."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"device printed no {prefix!r} line; its log:\n{self.log()}"
                ) from None
            if line.startswith(prefix):
                return line

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def set_pin(self, pin: int | str, level: int) -> None:
        self.command(f"set {pin} {level}")

    def set_temperature(self, celsius: float) -> None:
        self.command(f"temp {celsius}")

    def observers(self) -> int:
        self.command("stat")
        return int(self.wait_event("observers ").split()[1])

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self) -> int:
        """Ask the firmware to quit and wait for it; return its exit status."""
        if self.proc.poll() is None:
            self.command("quit")
            self.proc.wait(timeout=10)
        return self.proc.returncode


def start_host_device(
    host: Host, tmp_dir: Path, config: dict[str, Any] | None = None
) -> HostDevice:
    """Run the firmware in ``host`` with ``config`` (default: the host board's) and state
    in ``tmp_dir``; return once it has opened its sockets."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    config_path = tmp_dir / "config.json"
    config_path.write_text(json.dumps(config if config is not None else host_config()))
    state = tmp_dir / "state"
    log_path = tmp_dir / "device.log"
    with log_path.open("w") as log:
        proc = host.popen(
            [sys.executable, "-m", "firmware.host", "--config", str(config_path),
             "--state", str(state)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            bufsize=1,
        )
    device = HostDevice(proc, host, log_path)
    ready = device.wait_event("ready", timeout=READY_TIMEOUT)
    fields = dict(word.split("=", 1) for word in ready.split()[1:])
    device.di = fields["di"]
    device.port4 = int(fields["port4"])
    device.port6 = int(fields["port6"])
    return device
