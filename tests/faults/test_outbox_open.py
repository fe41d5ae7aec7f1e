"""An MQTT outbox that cannot be opened is not corrupt (issue 15 point 8).

Only a file SQLite calls corrupt, or whose integrity check fails, is moved aside. A file that
cannot be opened for another reason (permissions, too many open files) is left exactly as it
is, with its queued messages, and the error names the cause; a read-only state directory gives
an outbox in memory and a warning. Each case is real: a read-only bind mount, a process without
the capability to pass file permissions, a process out of file descriptors, damaged pages.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiomqtt

from bridge.mqtt.outbox import Message, Outbox
from bridge.sim.processes import GatewayProcess, Popen, SimProcess
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.mosquitto import Mosquitto
from bridge.sim.testing.procs import await_until
from tests.faults.restricted import on_read_only_dir, without_file_permissions
from tests.mqtt.conftest import Recorder

QUEUED = 3


def _filled(path: Path, count: int = QUEUED) -> bytes:
    box = Outbox(path, max_messages=10**6, max_bytes=1 << 30)
    box.open()
    for n in range(count):
        box.append(Message(f"gw/dev{n % 50}/event", f'{{"n": {n}, "pad": "{"x" * 200}"}}'.encode()))
    box.commit()
    box.close()
    return path.read_bytes()


def _open_in_child(path: Path, popen: Popen = subprocess.Popen, *extra: str) -> dict[str, Any]:
    child = popen([sys.executable, "-m", "tests.faults.outbox_opener", str(path), *extra],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def _queued(path: Path) -> int:
    box = Outbox(path, max_messages=10**6, max_bytes=1 << 30)
    box.open()
    count = box.count
    box.close()
    return count


def test_permission_denied_leaves_the_outbox_and_its_messages_alone(tmp_path: Path) -> None:
    path = tmp_path / "mqtt-outbox.sqlite3"
    before = _filled(path)
    path.chmod(0)
    result = _open_in_child(path, without_file_permissions())
    path.chmod(0o600)
    assert result["error"] == "StoreUnavailable", result
    assert "Permission denied" in result["message"] and "left as it is" in result["message"]
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.corrupt-*")), "a healthy outbox was moved aside"
    assert not any("corrupt" in line for line in result["log"]), result["log"]
    assert _queued(path) == QUEUED


def test_too_many_open_files_leaves_the_outbox_alone(tmp_path: Path) -> None:
    path = tmp_path / "mqtt-outbox.sqlite3"
    before = _filled(path)
    result = _open_in_child(path, subprocess.Popen, "--exhaust-fds")
    assert result["error"] == "StoreUnavailable", result
    assert "Too many open files" in result["message"], result
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.corrupt-*")), "a healthy outbox was moved aside"
    assert _queued(path) == QUEUED


def test_a_read_only_state_directory_gives_an_outbox_in_memory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    path = state / "mqtt-outbox.sqlite3"
    before = _filled(path)
    result = _open_in_child(path, on_read_only_dir(state))
    assert result["error"] == "", result
    assert result["persistent"] is False and result["count_before"] == 0
    assert result["last"] == "42", "the outbox in memory does not queue"
    warning = [line for line in result["log"] if "without persistence" in line]
    assert len(warning) == 1 and warning[0].startswith("WARNING"), result["log"]
    assert "read-only" in warning[0] and "left as it is" in warning[0]
    assert path.read_bytes() == before
    assert sorted(p.name for p in state.iterdir()) == ["mqtt-outbox.sqlite3"]


def test_a_new_outbox_in_a_read_only_directory_is_in_memory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = _open_in_child(state / "sub" / "mqtt-outbox.sqlite3", on_read_only_dir(state))
    assert (result["error"], result["persistent"], result["last"]) == ("", False, "42"), result
    assert not list(state.iterdir())


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "mqtt-outbox.sqlite3"
    path.write_bytes(b"this is no database" * 100)
    box = Outbox(path, max_messages=100, max_bytes=1 << 20)
    box.open()
    assert box.count == 0 and box.persistent
    (aside,) = tmp_path.glob("mqtt-outbox.sqlite3.corrupt-*")
    assert aside.read_bytes() == b"this is no database" * 100
    box.close()


def test_damaged_pages_found_by_the_integrity_check_are_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "mqtt-outbox.sqlite3"
    original = _filled(path, 3000)
    damaged = _damage_a_page_that_still_counts(path, original)
    box = Outbox(path, max_messages=10**6, max_bytes=1 << 30)
    box.open()
    assert box.count == 0 and box.persistent
    (aside,) = tmp_path.glob("mqtt-outbox.sqlite3.corrupt-*")
    assert aside.read_bytes() == damaged
    box.append(Message("gw/after", b"1"))
    box.commit()
    assert [q.message.topic for q in box.peek(10)] == ["gw/after"]
    box.close()


def _damage_a_page_that_still_counts(path: Path, original: bytes) -> bytes:
    """Overwrite the cell area of one table page, keeping its header: the rows still count,
    only the integrity check sees the damage (what a plain query at open would miss)."""
    page = 4096
    for number in range(3, len(original) // page):
        data = bytearray(original)
        start = number * page + 2000
        data[start:start + 1000] = b"\x55" * 1000
        path.write_bytes(bytes(data))
        db = sqlite3.connect(path)
        try:
            counted = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            check = db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError:
            continue
        finally:
            db.close()
        if counted == 3000 and check != [("ok",)]:
            return bytes(data)
    raise AssertionError("no page whose damage only the integrity check finds")


async def test_gateway_with_a_read_only_state_directory_mirrors_without_persistence(
        tmp_path: Path, dbus_daemon: DBusDaemon, mosquitto: Mosquitto) -> None:
    state = tmp_path / "state"
    config = (f'[gateway]\nname = "gw"\nstate_dir = "{state}"\n[ocf]\nenabled = false\n'
              f'[alljoyn]\nbus = "{dbus_daemon.address}"\nscan_timeout = 1.0\n'
              f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n'
              'reconnect_max_delay = 0.5\n')
    sim = SimProcess(["alljoyn", "--bus", dbus_daemon.address, "--model", "light",
                      "--name", "Lamp"])
    gateway = GatewayProcess(config, tmp_path, popen=on_read_only_dir(state))
    recorder = await Recorder(mosquitto.host, mosquitto.port, topics=("ocfaj/#",)).start()
    try:
        await asyncio.to_thread(sim.start)
        await asyncio.to_thread(gateway.start, 30.0)
        await recorder.wait_last("ocfaj/bridge/state", {"state": "online"}, within=20)
        await recorder.wait_for(lambda: recorder.last("ocfaj/lamp/availability") is not None,
                                within=20, message="the lamp mirrored to MQTT")
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client:
            await client.publish("ocfaj/bridge/request/health_check", b"{}", qos=1)
        topic = "ocfaj/bridge/response/health_check"
        await recorder.wait_for(lambda: bool(recorder.on(topic)), message=topic)
        health = recorder.on(topic)[0].json()["data"]
        assert health["connected"] is True and health["outbox_persistent"] is False, health
        log = gateway.log()
        assert "without persistence" in log and "mqtt failed to start" not in log, log
        assert not state.exists() or not list(state.iterdir())
    finally:
        await recorder.stop()
        gateway.stop()
        sim.stop()


async def test_gateway_retries_an_outbox_it_may_not_open_and_then_sends_its_messages(
        tmp_path: Path, dbus_daemon: DBusDaemon, mosquitto: Mosquitto) -> None:
    state = tmp_path / "state"
    state.mkdir()
    path = state / "mqtt-outbox.sqlite3"
    box = Outbox(path, max_messages=100, max_bytes=1 << 20)
    box.open()
    for n in range(QUEUED):
        box.append(Message("ocfaj/test/queued", f'{{"n": {n}}}'.encode()))
    box.commit()
    box.close()
    before = path.read_bytes()
    path.chmod(0)
    config = (f'[gateway]\nname = "gw"\nstate_dir = "{state}"\n[ocf]\nenabled = false\n'
              f'[alljoyn]\nbus = "{dbus_daemon.address}"\nscan_timeout = 1.0\n'
              f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\n')
    gateway = GatewayProcess(config, tmp_path, popen=without_file_permissions())
    recorder = await Recorder(mosquitto.host, mosquitto.port, topics=("ocfaj/#",)).start()
    try:
        await asyncio.to_thread(gateway.start, 30.0)
        await await_until(lambda: "mqtt failed to start" in gateway.log(), 20,
                          message="the failed open reported")
        assert "Permission denied" in gateway.log() and "left as it is" in gateway.log()
        assert path.read_bytes() == before and not list(state.glob("*.corrupt-*"))
        assert not recorder.on("ocfaj/test/queued")
        path.chmod(0o600)
        # The supervisor tries again; the messages queued before are the first to go out.
        await recorder.wait_for(lambda: len(recorder.on("ocfaj/test/queued")) == QUEUED,
                                within=30, message="the queued messages")
        assert [m.json()["n"] for m in recorder.on("ocfaj/test/queued")] == list(range(QUEUED))
        await recorder.wait_last("ocfaj/bridge/state", {"state": "online"})
        assert "corrupt" not in gateway.log(), gateway.log()
    finally:
        path.chmod(0o600)
        await recorder.stop()
        gateway.stop()
