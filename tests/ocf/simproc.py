"""A simulator process (``python -m bridge.sim.ocf_cli``) driven over its JSON-lines control."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from typing import Any

from bridge.sim.testing.netns import Host


class SimProcess:
    def __init__(self, host: Host, model: str, name: str, *extra: str) -> None:
        self.proc = host.popen(
            [sys.executable, "-m", "bridge.sim.ocf_cli", "--model", model, "--name", name,
             "--interface", "eth0", *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def expect(self, event: str, timeout: float = 15.0) -> dict[str, Any]:
        while True:
            got = self.events.get(timeout=timeout)
            if got["event"] == event:
                return got
            if got["event"] == "error":
                raise AssertionError(f"simulator error: {got['message']}")
