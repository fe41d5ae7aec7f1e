"""``[gateway] event_loop``: the value is checked, and ``uvloop`` without uvloop is refused by
check-config, run and demo with the key named; ``auto`` without it runs on asyncio's loop.

uvloop is installed in the test environment (the ``dev`` extra), so "without uvloop" is a
subprocess whose ``PYTHONPATH`` puts a ``uvloop`` package first that fails to import, as an
uninstalled one does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.core.errors import ConfigError
from bridge.daemon.config import parse_config
from bridge.sim.processes import NotifySocket

ROOT = Path(__file__).resolve().parents[2]


def without_uvloop(tmp_path: Path) -> dict[str, str]:
    shadow = tmp_path / "shadow" / "uvloop"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("uvloop is not installed here")\n')
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OCFAJ_")}
    return {**clean, "PYTHONPATH": str(shadow.parent)}


def config(tmp_path: Path, loop: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[gateway]\nevent_loop = "{loop}"\nstate_dir = "{tmp_path}"\n'
                    "[alljoyn]\nenabled = false\n[ocf]\nenabled = false\n")
    return path


def test_an_unknown_loop_is_refused_with_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config({"gateway": {"event_loop": "tokio"}}, path=tmp_path / "config.toml")
    assert refused.value.key == "gateway.event_loop"
    assert parse_config({"gateway": {"event_loop": "asyncio"}},
                        path=tmp_path / "c.toml").gateway.event_loop == "asyncio"


@pytest.mark.parametrize("command", ["check-config", "run", "demo"])
def test_uvloop_without_uvloop_is_refused_with_the_key(tmp_path: Path, command: str) -> None:
    path = config(tmp_path, "uvloop")
    env = without_uvloop(tmp_path)
    if command == "check-config":
        args = [command, str(path)]
    elif command == "run":
        args = [command, "--config", str(path)]
    else:  # the demo takes no file: its settings come from OCFAJ_* variables
        args, env = [command, "--plain"], {**env, "OCFAJ_GATEWAY_EVENT_LOOP": "uvloop"}
    done = subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "gateway.event_loop" in done.stderr and "ocfaj[uvloop]" in done.stderr, done.stderr


def test_auto_without_uvloop_runs_on_asyncios_loop(tmp_path: Path) -> None:
    notify = NotifySocket()
    log = tmp_path / "gateway.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(config(tmp_path, "auto"))],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**without_uvloop(tmp_path), "NOTIFY_SOCKET": notify.path})
    try:
        notify.wait_for("READY=1", 60.0)
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(60)
        notify.close()
    text = log.read_text()
    assert status == 0, text
    assert "event loop: asyncio" in text, text


def test_asyncios_loop_leaves_uvloop_unimported() -> None:
    # uvloop's import alone is about 1 MiB of the idle gateway's RSS: on asyncio's loop,
    # neither the loop's set-up nor the start log's name for it may import it.
    probe = ("import asyncio, sys\n"
             "from bridge.daemon.event_loop import describe, run\n"
             "async def main():\n"
             "    return describe(asyncio.get_running_loop())\n"
             "print(run(main(), 'asyncio'), 'uvloop' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=True)
    assert done.stdout.split() == ["asyncio", "False"], done.stdout
