"""Small process, port and waiting utilities shared by the test fixtures.

Layer: ``bridge.sim.testing`` (test kit): only the kit and test suites import it, never the
gateway. It does no network I/O beyond binding throw-away sockets on loopback to find free
ports and probing whether a local daemon accepts connections.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# Polling interval for readiness checks: short, so that daemons that start in a few
# milliseconds do not make every test pay a fixed sleep.
POLL_INTERVAL = 0.01


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_port(host: str = "127.0.0.1") -> int:
    """Return a UDP port on ``host`` that no socket is bound to right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    predicate: Callable[[], bool],
    timeout: float = 10.0,
    *,
    interval: float = POLL_INTERVAL,
    message: str = "",
) -> None:
    """Poll ``predicate`` until it returns true; raise ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout} s waiting for {message or _describe(predicate)}"
            )
        time.sleep(interval)


async def await_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    timeout: float = 10.0,  # noqa: ASYNC109 - mirrors wait_for; a deadline, not a cancel scope
    *,
    interval: float = POLL_INTERVAL,
    message: str = "",
) -> None:
    """Async ``wait_for``: ``predicate`` may be a plain or an async callable."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout} s waiting for {message or _describe(predicate)}"
            )
        await asyncio.sleep(interval)


def tcp_accepts(host: str, port: int) -> bool:
    """True when a TCP connection to ``host:port`` is accepted."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def unix_socket_accepts(path: str | os.PathLike[str]) -> bool:
    """True when a connection to the unix stream socket at ``path`` is accepted."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(os.fspath(path))
        except OSError:
            return False
        return True


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0, *, group: bool = False) -> None:
    """Terminate ``proc``, then kill it if it does not exit within ``timeout`` s.

    With ``group=True`` (the process was started with ``start_new_session=True``) the signals
    go to its whole process group, and whatever is left of the group after the leader exited
    is killed too. Safe to call on a process that has already exited; always reaps it, so no
    zombie outlives the fixture that started it.
    """
    if proc.poll() is None:
        _signal(proc, signal.SIGTERM, group)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL, group)
            proc.wait(timeout)
    if group:
        _signal(proc, signal.SIGKILL, group)


def read_log(path: Path, limit: int = 4000) -> str:
    """The last ``limit`` characters of a daemon's log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<log {path} unreadable: {exc}>"
    return text[-limit:]


def _signal(proc: subprocess.Popen[Any], signum: signal.Signals, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
    except ProcessLookupError:
        pass


def _describe(predicate: Callable[..., Any]) -> str:
    return getattr(predicate, "__qualname__", repr(predicate))


class ManagedDaemon:
    """What a test daemon (dbus-daemon, mosquitto) shares: its process, ``pid``, ``running``
    and ``restart``. Subclasses name their ``program`` and implement ``start()``/``stop()``; their
    ``stop()`` calls :meth:`_stop_process` first."""

    def __init__(self, program: str) -> None:
        self.program = program
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """Process id of the running daemon; ``RuntimeError`` when it is not running."""
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError(f"{self.program} is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop_process()

    def restart(self) -> None:
        """``stop()`` then ``start()`` on the same address; every client is disconnected."""
        self.stop()
        self.start()

    def _stop_process(self) -> None:
        """SIGTERM, then SIGKILL if it hangs; nothing when it is not running."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
