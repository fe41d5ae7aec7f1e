"""A read-only root file system works when the state directory is writable (issue 9 point 1).

The gateway runs in a private mount namespace (``unshare -m``) where every mount of the file
system is remounted read-only except the state directory (a bind mount of itself) and the
kernel's /proc, /sys, /dev: the same view ``ProtectSystem=strict`` + ``StateDirectory=`` give it
under systemd. It must start, bridge an OCF device to AllJoyn, and keep its identities in the
state directory. The probe in the namespace proves the rest really is read-only."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.sim.processes import GatewayProcess, SimProcess
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.procs import free_udp_port
from tests.e2e.alljoyn_consumer import Consumer

READ_ONLY = """
set -e
mount --make-rprivate /
mount --bind "$STATE" "$STATE"
findmnt -rn -o TARGET | while read -r target; do
  case "$target" in /proc*|/sys*|/dev*|/run/netns*|"$STATE") continue ;; esac
  mount -o remount,bind,ro "$target" 2>/dev/null || true
done
if touch "$PROBE" 2>/dev/null; then echo "the root file system is still writable" >&2; exit 3; fi
echo "read-only root: only $STATE is writable" >&2
exec "$@"
"""


def read_only_popen(state: Path, probe: Path) -> Callable[..., subprocess.Popen[Any]]:
    """A ``popen`` for GatewayProcess that runs the command under the read-only view."""
    def popen(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        script = (f"STATE={shlex.quote(str(state))} PROBE={shlex.quote(str(probe))}\n"
                  + READ_ONLY)
        return subprocess.Popen(["unshare", "-m", "sh", "-c", script, "ro", *args], **kwargs)
    return popen


async def test_gateway_runs_and_bridges_on_a_read_only_root(tmp_path: Path,
                                                           dbus_daemon: DBusDaemon) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    port = free_udp_port()
    lamp = SimProcess(["ocf", "--model", "light", "--name", "Lamp", "--unicast-only",
                       "--bind", "127.0.0.1", "--device-port", str(port)],
                      log_path=tmp_path / "lamp.log")
    config = (f'[gateway]\nname = "gw"\nstate_dir = "{state}"\n'
              f'[ocf]\ninterfaces = ["lo"]\nipv6 = false\nvirtual_bind = "127.0.0.1"\n'
              f'server_port = {free_udp_port()}\nunicast_peers = ["coap://127.0.0.1:{port}"]\n'
              f'discovery_interval = 1.0\n'
              f'[alljoyn]\nbus = "{dbus_daemon.address}"\n[mqtt]\nenabled = false\n')
    gateway = GatewayProcess(config, tmp_path, popen=read_only_popen(state, tmp_path / "probe"))
    consumer = await Consumer.connect(dbus_daemon.address)
    try:
        await asyncio.to_thread(lamp.start)
        await asyncio.to_thread(gateway.start, 30.0)
        assert "read-only root: only" in gateway.log()
        assert not (tmp_path / "probe").exists()

        app = await consumer.wait_app("Lamp", virtual=True)
        assert await consumer.get(app, "org.alljoyn.SmartSpaces.Operation.OnOffStatus",
                                  "IsOn") is False
        book = state / "identities.json"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not (book.exists() and app.app_id.hex() in book.read_text()):
            assert loop.time() < deadline, gateway.log()
            await asyncio.sleep(0.1)
        assert gateway.stop() == 0, gateway.log()
        # Nothing besides the state directory was written: no .pyc, no temp files elsewhere.
        assert "Read-only file system" not in gateway.log(), gateway.log()
    finally:
        consumer.close()
        gateway.stop()
        lamp.stop()
