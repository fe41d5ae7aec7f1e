"""``ocfaj demo`` as a person runs it: its own process group, output to a pipe or a terminal.

A terminal run gets a pseudo-terminal of a given size as its controlling terminal, so a
Ctrl-C typed into it (``interrupt``) is the terminal's SIGINT to the demo's process group,
exactly as in a shell. Output is collected by threads; ``wait_for`` polls it with a deadline.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any


def _take_terminal() -> None:
    # Runs in the child after setsid(): stdin (the pty's slave) becomes its controlling tty.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class DemoRun:
    """One ``python -m bridge demo ARGS`` process under test control."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], *,
                 terminal: tuple[int, int] | None = None) -> None:
        self.args = [sys.executable, "-m", "bridge", "demo", *args]
        self.env = dict(env)
        self.terminal = terminal
        self.process: subprocess.Popen[bytes] | None = None
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._master: int | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> DemoRun:
        if self.terminal is None:
            self.process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            env=self.env, start_new_session=True)
            assert self.process.stdout is not None
            self._read(self.process.stdout.fileno(), self._out)
        else:
            columns, rows = self.terminal
            master, slave = os.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            self.process = subprocess.Popen(self.args, stdin=slave, stdout=slave,
                                            stderr=subprocess.PIPE, env=self.env,
                                            start_new_session=True, preexec_fn=_take_terminal)
            os.close(slave)
            self._master = master
            self._read(master, self._out)
        assert self.process.stderr is not None
        self._read(self.process.stderr.fileno(), self._err)
        return self

    def _read(self, fd: int, into: list[bytes]) -> None:
        def pump() -> None:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    return
                if not chunk:
                    return
                into.append(chunk)

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        self._threads.append(thread)

    @property
    def output(self) -> str:
        return b"".join(self._out).decode(errors="replace")

    @property
    def errors(self) -> str:
        return b"".join(self._err).decode(errors="replace")

    def wait_for(self, predicate: Callable[[str], Any], what: str, within: float = 40.0) -> Any:
        """Poll until ``predicate(output)`` is truthy; returns that value."""
        deadline = time.monotonic() + within
        while True:
            result = predicate(self.output)
            if result:
                return result
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {within} s (exit status "
                                     f"{self.process.poll()}):\n{self.output[-4000:]}\n"
                                     f"stderr:\n{self.errors[-4000:]}")
            time.sleep(0.1)

    def interrupt(self) -> None:
        """Ctrl-C: typed into the terminal, or SIGINT to the process group from a shell."""
        assert self.process is not None
        if self.process.poll() is not None:
            return
        if self._master is not None:
            os.write(self._master, b"\x03")
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)

    def finish(self, within: float = 40.0) -> int:
        """Wait for the exit (killing the group after ``within`` s); returns the status."""
        assert self.process is not None
        try:
            status = self.process.wait(within)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"the demo did not stop within {within} s:\n"
                                 f"{self.output[-4000:]}\nstderr:\n{self.errors[-4000:]}"
                                 ) from None
        for thread in self._threads:
            thread.join(5)
        if self._master is not None:
            os.close(self._master)
            self._master = None
        stream: IO[bytes] | None = self.process.stderr
        if stream is not None:
            stream.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return status
