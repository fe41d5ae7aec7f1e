"""The gateway speaks systemd's notify protocol itself: READY=1 once it bridges, WATCHDOG=1 at
half of WATCHDOG_USEC for as long as it runs, STOPPING=1 on SIGTERM, and a clean exit 0.

The test owns the notify socket (a unix datagram socket, as systemd's) and reads every datagram
the real ``ocfaj run`` process sends to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bridge.sim.testing.dbus import DBusDaemon

#: systemd would kill the gateway after 0.6 s without a ping; it must ping every 0.3 s.
WATCHDOG_USEC = 600_000


def _config(tmp: Path, bus: str) -> Path:
    path = tmp / "gw.toml"
    path.write_text(f'[gateway]\nname = "gw"\nstate_dir = "{tmp / "state"}"\n'
                    f'[ocf]\nenabled = false\n[mqtt]\nenabled = false\n'
                    f'[alljoyn]\nbus = "{bus}"\n')
    return path


def _receive(sock: socket.socket, until: float) -> list[str]:
    messages = []
    while (left := until - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return messages


def test_ready_watchdog_stopping_and_clean_exit(tmp_path: Path,
                                                dbus_daemon: DBusDaemon) -> None:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        log = tmp_path / "gw.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "bridge", "run", "--config",
                                     str(_config(tmp_path, dbus_daemon.address))],
                                    stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            messages: list[str] = []
            deadline = time.monotonic() + 30
            while not any(m.startswith("READY=1") for m in messages):
                assert time.monotonic() < deadline, (messages, log.read_text())
                messages += _receive(sock, time.monotonic() + 0.5)
            ready = next(m for m in messages if m.startswith("READY=1"))
            assert "STATUS=" in ready  # the status line systemctl shows
            # Watchdog pings keep coming after READY, well inside WatchdogSec.
            after = _receive(sock, time.monotonic() + 2.0)
            pings = [m for m in after if m == "WATCHDOG=1"]
            assert len(pings) >= 3, (after, log.read_text())
            assert proc.poll() is None

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0, log.read_text()
            # Datagrams sent before the exit are still queued on our socket.
            tail = _receive(sock, time.monotonic() + 1.0)
            assert "STOPPING=1" in tail, tail
            assert "gateway gw stopped" in log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
