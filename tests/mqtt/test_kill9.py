"""kill -9 of the gateway during a broker outage, then a restart: nothing accepted is lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from bridge.sim.testing.mosquitto import MosquittoFactory
from tests.mqtt.conftest import Recorder, RecorderFactory

ROOT = Path(__file__).resolve().parents[2]


class Uplink:
    """One ``uplink_proc`` process."""

    def __init__(self, host: str, port: int, state_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.mqtt.uplink_proc", host, str(port), str(state_dir),
             "gw-kill9"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    async def send(self, command: dict[str, object]) -> str:
        """Send one command and wait for its ``ok`` (the messages are committed then)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        answer = await asyncio.to_thread(self.proc.stdout.readline)
        assert answer.startswith("ok "), answer
        return answer

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()


def ticks(rec: Recorder) -> list[int]:
    return [m.json()["args"]["n"] for m in rec.on("ocfaj/counter/event")]


async def test_kill9_during_an_outage_loses_nothing(
        tmp_path: Path, mosquitto_factory: MosquittoFactory,
        recorder_factory: RecorderFactory) -> None:
    broker = mosquitto_factory(persistence=True)
    rec = await recorder_factory(broker, persistent=True)
    state_dir = tmp_path / "gw-state"
    first = Uplink(broker.host, broker.port, state_dir)
    second: Uplink | None = None
    try:
        await first.send({"op": "add"})
        for n in range(1, 51):
            await first.send({"op": "tick", "n": n})
        await rec.wait_for(lambda: 50 in ticks(rec), within=15)
        await asyncio.to_thread(broker.stop)
        for n in range(51, 151):
            answer = await first.send({"op": "tick", "n": n})
        assert int(answer.split("queued=")[1]) >= 100
        first.kill9()
        await asyncio.to_thread(broker.start)
        # A new gateway process on the same state directory replays what the dead one accepted.
        second = Uplink(broker.host, broker.port, state_dir)
        await rec.wait_for(lambda: set(ticks(rec)) >= set(range(1, 151)), within=30,
                           message="every tick")
    finally:
        first.close()
        if second is not None:
            second.close()
    seen = ticks(rec)
    order: list[int] = []
    for n in seen:
        if n not in order:
            order.append(n)
    assert order == list(range(1, 151))
    await rec.wait_last("ocfaj/counter", {"counter": {"Count": 150, "Label": ""}})
