"""``python -m bridge.sim.alljoyn_cli``: a simulator process driven through its JSON-lines
control, found by the side, changed from outside, and stopped cleanly."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from bridge.core.registry import Registry
from bridge.core.thing import Side
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SideFactory


async def test_simulator_process_under_control(dbus_daemon: DBusDaemon, make_side: SideFactory,
                                               registry: Registry) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.sim.alljoyn_cli", "--bus", dbus_daemon.address,
        "--model", "sensor", "--name", "Cellar", "--count", "2",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready = [json.loads(await proc.stdout.readline()) for _ in range(2)]
        assert [r["device"] for r in ready] == ["Cellar 1", "Cellar 2"]
        await make_side()
        await await_until(lambda: len(list(registry)) == 2)
        cellar = next(t for t in registry if t.info.name == "Cellar 2")
        assert cellar.origin is Side.ALLJOYN and set(cellar.capabilities) == {"humidity",
                                                                             "battery"}
        proc.stdin.write(b'{"cmd": "set", "device": "Cellar 2", "capability": "humidity", '
                         b'"values": {"humidity": 91}}\n')
        await proc.stdin.drain()
        await await_until(lambda: cellar.capabilities["humidity"].state["humidity"] == 91)
        proc.stdin.write(b'{"cmd": "stop"}\n')
        await proc.stdin.drain()
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
        await await_until(lambda: not any(t.available for t in registry))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
