"""``ocfaj simulate ocf --secure --state-dir``: the file of a secured simulated device.

Without a network: the file round-trips the owner's provisioning (credentials with their
keys and roles, ACEs, the uuids, the state) and the device's ``piid``/``pi``, is written with
mode 0600 in a 0700 directory, leaves no temporary file behind; a file that is not one gives
a clear error, and so does ``--state-dir`` without ``--secure`` (exit 2, the device never
starts). In process, over real UDP on loopback: a restarted device keeps its uuid, ``piid``
and coaps port, and takes another port (with a warning) when its own is taken."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bridge.model.types import Catalogue
from bridge.ocf import svr
from bridge.sim.device import SimDevice
from bridge.sim.model_names import model_id
from bridge.sim.ocf import SimListing
from bridge.sim.ocf_secure import SecureOcfSimServer
from bridge.sim.ocf_secure_state import SecureStateFile


def test_the_saved_state_comes_back_whole_and_private(tmp_path: Path) -> None:
    state = svr.SecureState(uuid.uuid4(), owned=True, oxmsel=svr.RANDOM_PIN,
                            devowner=uuid.uuid4(), state=svr.DeviceState.RFNOP)
    state.rowner = state.devowner
    client = uuid.uuid4()
    state.creds = [svr.Credential(1, state.devowner, bytes(range(16))),
                   svr.Credential(2, client, bytes(range(16, 48)), role=("r", "a"))]
    state.acl = [svr.Ace(1, client, ("*",), svr.READ),
                 svr.Ace(2, None, ("/switch",), svr.UPDATE, role=("r", "a"))]
    directory = tmp_path / "state"
    file = SecureStateFile(directory, 1)
    assert file.load() is None
    piid, pi = str(uuid.uuid4()), str(uuid.uuid4())
    file.save(state, piid, pi)
    assert stat.S_IMODE(file.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert [p.name for p in directory.iterdir()] == ["ocf-device-1.json"]
    back = file.load()
    assert back is not None and (back.piid, back.pi) == (piid, pi)
    for name in ("device", "owned", "oxmsel", "devowner", "rowner", "state", "creds", "acl"):
        assert getattr(back.state, name) == getattr(state, name), name
    assert back.state.first_device is None  # a reset gives a new random uuid


def test_a_file_that_is_not_a_saved_device_is_a_clear_error(tmp_path: Path) -> None:
    file = SecureStateFile(tmp_path, 1)
    file.path.write_text('{"piid": "x"}')
    with pytest.raises(ValueError, match=r"not a saved secured device.*move it away"):
        file.load()


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bridge", "simulate", "ocf", "--model",
                           "light", "--name", "Porch", "--unicast-only", "--bind",
                           "127.0.0.1", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_bad_state_dir_arguments_stop_the_simulator_with_a_clear_message(
        tmp_path: Path) -> None:
    plain = simulate("--state-dir", str(tmp_path))
    assert plain.returncode == 2 and "--state-dir" in plain.stderr and "--secure" in \
        plain.stderr, plain
    (tmp_path / "ocf-device-1.json").write_text("not json")
    broken = simulate("--secure", "--state-dir", str(tmp_path))
    assert broken.returncode == 2, broken
    assert "ocf-device-1.json: not a saved secured device" in broken.stderr, broken.stderr


def light(catalogue: Catalogue) -> SimDevice:
    return SimDevice.of_type("Porch", catalogue, model_id("light"))


async def test_a_restarted_device_serves_coaps_on_its_saved_port_or_another_when_taken(
        tmp_path: Path, catalogue: Catalogue, caplog: pytest.LogCaptureFixture) -> None:
    def server() -> SecureOcfSimServer:
        return SecureOcfSimServer(light(catalogue), SimListing(multicast=False),
                                  bind_host="127.0.0.1", state_file=SecureStateFile(tmp_path, 1))

    first = server()
    facts = await first.start()
    await first.stop()
    again = server()
    kept = await again.start()
    await again.stop()
    assert (kept["coaps_port"], kept["di"], kept["piid"]) == (
        facts["coaps_port"], facts["di"], facts["piid"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blocker:
        blocker.bind(("127.0.0.1", facts["coaps_port"]))
        taken = server()
        moved = await taken.start()
        await taken.stop()
    assert moved["coaps_port"] not in (0, facts["coaps_port"]) and moved["di"] == facts["di"]
    assert f"coaps port {facts['coaps_port']} is not free" in caplog.text
