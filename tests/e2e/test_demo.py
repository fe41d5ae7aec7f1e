"""``ocfaj demo`` as a new user meets it (issue 5 point 6, issue 14 points 4, 5, 7, 8, 10).

The demo runs the gateway between simulated devices of both sides on one machine (here inside
the test run's private network namespace, so nothing could leave the machine even if it
tried). It is started as from a shell: in a process group of its own, stopped by Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from bridge.sim.testing import Mosquitto
from tests.e2e.demo_run import DemoRun

HOME_NAMES = {"Desk Lamp", "Hall Sensor", "Front Door", "Ceiling Light",
              "Living Room Thermostat"}
# A lamp that leaves 8 s after the start for 10 s (long enough for the gateway to notice:
# the demo's discovery round is 3 s, two missed rounds), then stays 8 s before the next
# departure: the gateway must see it back within that stay.
QUICK_SCENARIO = """
name = "quick"

[[device]]
name = "Desk Lamp"
side = "ocf"
model = "light"

[[device]]
name = "Ceiling Light"
side = "alljoyn"
capabilities = ["switch"]

[[behaviour]]
kind = "leave"
device = "Desk Lamp"
every = 8.0
duration = 10.0
"""


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test run's environment with an installed service's configuration in it: the
    demo must not read it (a broken file would end any command that does)."""
    service = tmp_path / "service.toml"
    service.write_text('[gateway]\nname = "livingroom"\n[mqtt]\nhost = "192.0.2.1"\n'
                       'client_id = "ocfaj-livingroom"\nbase_topic = "home"\n[ocf\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCFAJ_")}
    return {**env, "OCFAJ_CONFIG": str(service), **extra}


def _lines(output: str) -> list[str]:
    return output.replace("\r", "").splitlines()


def test_demo_bridges_both_origins_and_exits_cleanly(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bridge", "demo", "--duration", "8", "--plain"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env=_environment(tmp_path))
    assert done.returncode == 0, (done.stdout, done.stderr)
    out = done.stdout
    assert "multicast is not used" in out
    table = [line for line in out.splitlines() if line.startswith(("ORIGIN", "ocf ", "alljoyn "))]
    assert table and table[0].split()[:2] == ["ORIGIN", "NAME"], out
    rows = table[1:]
    ocf = [r for r in rows if r.startswith("ocf ")]
    alljoyn = [r for r in rows if r.startswith("alljoyn ")]
    assert ocf and alljoyn, out
    # Each device crossed to the other side, and all are up.
    assert all(" up " in r and " alljoyn " in r for r in ocf), ocf
    assert all(" up " in r and " ocf " in r for r in alljoyn), alljoyn
    assert "demo: stopping" in out


def test_plain_demo_lamp_leaves_and_comes_back(tmp_path: Path) -> None:
    scenario = tmp_path / "quick.toml"
    scenario.write_text(QUICK_SCENARIO)
    run = DemoRun(["--plain", "--scenario", str(scenario)], _environment(tmp_path)).start()
    try:
        run.wait_for(lambda out: "simulator: Desk Lamp is back" in out, "return of the lamp")
        # Back at the same port: the gateway sees it again before its next departure.
        run.wait_for(lambda out: "Desk Lamp returned" in out, "the gateway seeing the lamp back")
        assert run.output.count("simulator: Desk Lamp went away") == 1, run.output
        run.wait_for(lambda out: "through the gateway" in out, "a command through the gateway")
    finally:
        run.interrupt()
        status = run.finish()
    assert status == 0, (run.output, run.errors)
    lines = [line for line in _lines(run.output) if line.strip()]
    events = [line.split(" ", 1)[1] for line in lines if re.match(r"\d\d:\d\d:\d\d ", line)]

    def at(text: str) -> int:
        return next(i for i, e in enumerate(events) if e.startswith(text))

    assert (at("found ocf device Desk Lamp") < at("simulator: Desk Lamp went away")
            < at("Desk Lamp left") < at("simulator: Desk Lamp is back")
            < at("Desk Lamp returned")), events
    # The same device came back, not a new one.
    assert sum(e == "found ocf device Desk Lamp" for e in events) == 1, events
    assert any(re.fullmatch(r"demo client switched Ceiling Light (on|off) through the gateway",
                            e) for e in events), events
    assert not [line for line in lines if line.lstrip().startswith("{")], lines
    assert lines[-1] == "demo: stopping", lines[-5:]


def _last_frame(output: str) -> list[str] | None:
    """The last complete screen the demo drew: lines without the escape sequences."""
    frames = output.split("\x1b[H")
    if len(frames) < 3:
        return None
    frame = frames[-2].replace("\x1b[K", "").replace("\x1b[J", "").replace("\r", "")
    return frame.split("\n")


def _full_frame(output: str) -> list[str] | None:
    frame = _last_frame(output)
    if frame is None:
        return None
    rows = [line for line in frame if line.startswith(("ocf ", "alljoyn "))]
    return frame if len(rows) == len(HOME_NAMES) and all(" up " in r for r in rows) else None


def test_ctrl_c_in_an_80x24_terminal(tmp_path: Path) -> None:
    run = DemoRun([], _environment(tmp_path), terminal=(80, 24)).start()
    try:
        frame = run.wait_for(_full_frame, "a screen with every device up")
    finally:
        run.interrupt()
        status = run.finish()
    # A quiet, ordered stop: exit status 0, nothing on stderr, nothing after "stopping".
    assert status == 0, (run.output[-3000:], run.errors)
    assert run.errors == ""
    after = run.output.rsplit("\x1b[J", 1)[-1].replace("\r", "")
    assert [line for line in after.split("\n") if line.strip(" ^C")] == ["demo: stopping"], after
    assert len(frame) <= 24, frame
    assert all(len(line) < 80 for line in frame), [line for line in frame if len(line) >= 80]
    assert frame[0].startswith("ocfaj demo - Ctrl-C stops - 5 devices"), frame
    # The start-up lines stay on the screen, and the table's header too.
    assert any(line.startswith("private D-Bus at unix:path=") for line in frame), frame
    assert any(line.startswith("multicast is not used") for line in frame), frame
    assert any(line.split()[:2] == ["ORIGIN", "NAME"] for line in frame), frame
    names = {name for name in HOME_NAMES for line in frame if f" {name} " in line}
    assert names == HOME_NAMES, frame


async def _retained_configs(broker: Mosquitto) -> dict[str, dict[str, Any]]:
    """Every retained Home Assistant discovery config on the broker, by topic."""
    marker = f"test/marker/{uuid.uuid4()}"
    configs: dict[str, dict[str, Any]] = {}
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe("homeassistant/#", qos=1)
        await client.subscribe(marker, qos=1)
        await client.publish(marker, b"end", qos=1)
        # The broker sends the retained messages of a subscription before anything published
        # after it: once the marker is back, every retained config has arrived.
        async with asyncio.timeout(20):
            async for message in client.messages:
                topic = str(message.topic)
                if topic == marker:
                    return configs
                if topic.endswith("/config") and message.payload:
                    assert isinstance(message.payload, bytes | bytearray)
                    configs[topic] = json.loads(message.payload)
    raise AssertionError("the marker never came back")


def _device_names(configs: dict[str, dict[str, Any]]) -> set[str]:
    return {str(c.get("device", {}).get("name")) for c in configs.values()}


async def _run_with_mqtt(broker: Mosquitto, tmp_path: Path) -> set[str]:
    """One demo run until it has published every device's Home Assistant discovery config;
    the node ids it published them under."""
    env = _environment(tmp_path, OCFAJ_MQTT_HOST=broker.host,
                       OCFAJ_MQTT_PORT=str(broker.port))
    published: dict[str, dict[str, Any]] = {}
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe("homeassistant/#", qos=1)

        async def collect() -> None:
            async for message in client.messages:
                # Retained configs of earlier runs arrive flagged: only this run's count.
                if (not message.retain and str(message.topic).endswith("/config")
                        and isinstance(message.payload, bytes) and message.payload):
                    published[str(message.topic)] = json.loads(message.payload)

        task = asyncio.create_task(collect())
        run = DemoRun(["--plain"], env).start()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 40
            # Home Assistant's device names are the devices' own names.
            while not HOME_NAMES <= _device_names(published):
                assert loop.time() < deadline, (_device_names(published), run.output[-3000:],
                                                run.errors[-3000:])
                await asyncio.sleep(0.2)
        finally:
            run.interrupt()
            status = await asyncio.to_thread(run.finish)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert status == 0, (run.output[-3000:], run.errors)
    assert "as client ocfaj-demo" in run.output
    return {c["device"]["identifiers"][0] for c in published.values()
            if c.get("device", {}).get("name") in HOME_NAMES}


async def test_two_mqtt_runs_leave_the_same_devices(mosquitto: Mosquitto,
                                                    tmp_path: Path) -> None:
    first = await _run_with_mqtt(mosquitto, tmp_path)
    configs = await _retained_configs(mosquitto)
    second = await _run_with_mqtt(mosquitto, tmp_path)
    assert second == first  # the simulated devices kept their ids
    assert set(await _retained_configs(mosquitto)) == set(configs)
    assert len(first) == len(HOME_NAMES)
    # The demo's own client id and topics, never the installed service's.
    state_topics = [c["state_topic"] for c in configs.values() if "state_topic" in c]
    assert state_topics and all(t.startswith("ocfaj-demo/") for t in state_topics), state_topics
    log = mosquitto.log_text()
    assert " as ocfaj-demo (" in log, log
    assert "ocfaj-livingroom" not in log


@pytest.mark.parametrize("loop_choice", ["uvloop", "asyncio"])
def test_demo_runs_on_the_event_loop_it_is_given(tmp_path: Path, loop_choice: str) -> None:
    # [gateway] event_loop, as for ocfaj run (uvloop is installed here, with the dev extra).
    done = subprocess.run([sys.executable, "-m", "bridge", "demo", "--duration", "6",
                           "--plain", "--log-level", "info"],
                          capture_output=True, text=True, timeout=60, check=False,
                          env=_environment(tmp_path, OCFAJ_GATEWAY_EVENT_LOOP=loop_choice))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert f"event loop: {loop_choice}" in done.stderr, done.stderr
    # Its virtual OCF devices answer GETs on the compiled path (built here) as ocfaj run's do.
    assert "compiled GET path: on" in done.stderr, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith(("ocf ", "alljoyn "))]
    assert rows and all(" up " in row for row in rows), done.stdout
