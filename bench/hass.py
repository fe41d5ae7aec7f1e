"""Benchmark: how soon after the gateway starts Home Assistant shows every entity.

Layer: benchmark tooling. Real Home Assistant core (the cached venv of tests/hass, the release
``tests.hass.core.VERSION`` or the one ``OCFAJ_HA_VENV`` holds) with an MQTT config entry for a
real mosquitto, already running; then the gateway starts and the clock runs until Home
Assistant's state machine (its REST ``/api/states``, polled every 0.2 s) holds every entity
the gateway's discovery enables, each with a state other than ``unavailable``. Two cases:

- the demo: ``ocfaj demo`` with its default scenario; the clock starts when the demo prints
  that the gateway is starting (its devices are up by then);
- N bridged devices: N simulated AllJoyn lights on a private dbus-daemon (100 per process),
  then the real ``ocfaj run`` with only its AllJoyn and MQTT sides; the clock starts when the
  process is started.

A subscriber on the broker sees every discovery document as Home Assistant does, with its
arrival time: the row "gateway's last discovery sent" tells the gateway's part of the time from
Home Assistant's. Every case gets a Home Assistant of its own (a fresh configuration), so no
entity of an earlier case is in the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

from bench import rig
from bench.stats import Report
from bridge.mqtt.hass import node_id
from bridge.sim.processes import GatewayProcess
from bridge.sim.testing.mosquitto import Mosquitto
from tests.hass.core import HomeAssistantCore, home_assistant_venv

NAME = "hass"
SIZES = {"full": (0, 500), "quick": (0, 100), "tiny": (10,)}
"""Cases per size: 0 is the demo, N > 0 that many bridged AllJoyn lights."""
TARGET_DEMO = 3.0
TARGET_500 = 10.0
PER_PROCESS = 100
POLL = 0.2
WITHIN = 180.0
DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "bridge" / "sim" / "scenarios" / \
    "home.toml"
#: The line ``ocfaj demo`` prints right before it starts the gateway.
DEMO_GATEWAY_LINE = "multicast is not used"


@dataclass
class Watch:
    """What the broker carried: discovery documents and the device list, with arrival times."""

    prefix: str
    base_topic: str
    configs: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)

    def take(self, topic: str, payload: bytes, now: float) -> None:
        if topic == f"{self.base_topic}/bridge/devices":
            self.devices = [d["id"] for d in json.loads(payload)]
        elif topic.startswith(f"{self.prefix}/") and topic.endswith("/config"):
            if payload:
                self.configs[topic] = (json.loads(payload), now)
            else:
                self.configs.pop(topic, None)

    def expected(self, devices: int) -> dict[str, float] | None:
        """Entity id -> arrival of its document, for every entity Home Assistant must show,
        once the gateway listed all ``devices`` and sent each one's discovery (its last
        document is the last-seen sensor's); else None."""
        if len(self.devices) < devices:
            return None
        for thing_id in self.devices:
            if f"{self.prefix}/sensor/{node_id(thing_id)}/last_seen/config" not in self.configs:
                return None
        return {c["default_entity_id"]: at for c, at in self.configs.values()
                if c.get("enabled_by_default", True)}


@dataclass(frozen=True)
class Result:
    entities: int
    all_visible: float
    """Seconds from the gateway's start until Home Assistant showed the last entity."""
    last_discovery: float
    """Seconds from the gateway's start until the broker carried the last of their discovery
    documents."""


async def _observe(ha: HomeAssistantCore, broker: Mosquitto, watch: Watch, devices: int,
                   launch: Callable[[], float]) -> Result:
    """Start the gateway (``launch`` returns when it started) and time what Home Assistant
    shows against what the broker carried."""
    seen: dict[str, float] = {}
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"{watch.prefix}/#", qos=1)
        await client.subscribe(f"{watch.base_topic}/bridge/devices", qos=1)

        async def listen() -> None:
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes | bytearray)
                watch.take(str(message.topic), bytes(payload), time.monotonic())

        listener = asyncio.create_task(listen())
        started = asyncio.create_task(asyncio.to_thread(launch))
        try:
            deadline = time.monotonic() + WITHIN
            while time.monotonic() < deadline:
                states = await asyncio.to_thread(ha.states)
                now = time.monotonic()
                for entity, state in states.items():
                    if state["state"] != "unavailable":
                        seen.setdefault(entity, now)
                expected = watch.expected(devices)
                if expected and started.done() and expected.keys() <= seen.keys():
                    began = started.result()
                    return Result(len(expected), max(seen[e] for e in expected) - began,
                                  max(expected.values()) - began)
                await asyncio.sleep(POLL)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            with contextlib.suppress(Exception):
                await started
    expected = watch.expected(devices) or {}
    raise TimeoutError(f"after {WITHIN} s: {len(watch.devices)} of {devices} devices listed, "
                       f"{len(expected.keys() & seen.keys())} of {len(expected)} entities in "
                       "Home Assistant")


@contextlib.contextmanager
def _home_assistant(directory: Path) -> Iterator[tuple[HomeAssistantCore, Mosquitto]]:
    broker = rig.broker(directory)
    with broker as mosquitto:
        ha = HomeAssistantCore(home_assistant_venv(), directory / "ha", mosquitto.host,
                               mosquitto.port)
        ha.prepare()
        ha.start()
        try:
            yield ha, mosquitto
        finally:
            ha.stop()


def _demo_devices() -> int:
    return len(tomllib.loads(DEMO_SCENARIO.read_text())["device"])


class _Demo:
    """``ocfaj demo`` as a process; :meth:`launch` starts it and returns when it starts its
    gateway (the time it printed so)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._started = threading.Event()
        self._at = 0.0

    def launch(self) -> float:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "demo", "--plain", "--scenario", str(DEMO_SCENARIO)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=self.env, start_new_session=True)
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        if not self._started.wait(60):
            raise TimeoutError("ocfaj demo did not start its gateway within 60 s")
        return self._at

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if not self._started.is_set() and DEMO_GATEWAY_LINE.encode() in line:
                self._at = time.monotonic()
                self._started.set()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _demo(directory: Path) -> tuple[Result, str]:
    with _home_assistant(directory) as (ha, broker):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OCFAJ_")}
        env.update(OCFAJ_MQTT_HOST=broker.host, OCFAJ_MQTT_PORT=str(broker.port),
                   OCFAJ_CONFIG=str(directory / "absent.toml"))
        demo = _Demo(env)
        try:
            result = asyncio.run(_observe(ha, broker, Watch("homeassistant", "ocfaj-demo"),
                                          _demo_devices(), demo.launch))
        finally:
            demo.stop()
        return result, ha.version


def _gateway_toml(state_dir: Path, bus: str, broker: Mosquitto) -> str:
    return (f'[gateway]\nname = "bench"\nstate_dir = "{state_dir}"\nlog_level = "warning"\n'
            f'[alljoyn]\nbus = "{bus}"\n[ocf]\nenabled = false\n'
            f'[mqtt]\nenabled = true\nhost = "{broker.host}"\nport = {broker.port}\n')


@contextlib.contextmanager
def _lights(bus: str, n: int) -> Iterator[None]:
    """N simulated AllJoyn lights, PER_PROCESS per process, each process's all ready."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for k, start in enumerate(range(0, n, PER_PROCESS)):
            count = min(PER_PROCESS, n - start)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "bridge.sim.alljoyn_cli", "--bus", bus, "--model",
                 "light", "--name", f"Light {k}", "--count", str(count)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        for proc, start in zip(procs, range(0, n, PER_PROCESS), strict=True):
            assert proc.stdout is not None
            ready = 0
            while ready < min(PER_PROCESS, n - start):
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"a simulator exited early ({proc.args!r})")
                ready += b'"event": "ready"' in line
        yield
    finally:
        for proc in procs:
            if proc.poll() is None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.write(b'{"cmd": "stop"}\n')
                    proc.stdin.flush()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _bridged(directory: Path, n: int) -> tuple[Result, str]:
    with _home_assistant(directory) as (ha, broker), rig.private_bus(directory) as bus, \
            _lights(bus.address, n):
        gateway_dir = directory / "gateway"
        gateway_dir.mkdir()
        gateway = GatewayProcess(_gateway_toml(gateway_dir / "state", bus.address, broker),
                                 gateway_dir)

        def launch() -> float:
            began = time.monotonic()
            gateway.start(within=60.0)
            return began

        try:
            result = asyncio.run(_observe(ha, broker, Watch("homeassistant", "ocfaj"), n,
                                          launch))
        finally:
            status = gateway.stop()
        if status not in (0, None):
            raise RuntimeError(f"gateway exited with {status}:\n{gateway.log()[-3000:]}")
        return result, ha.version


def run(directory: Path, size: str) -> Report:
    report = Report(NAME)
    version = ""
    for n in SIZES[size]:
        case = directory / f"n{n}"
        case.mkdir()
        target: float | None
        if n == 0:
            result, version = _demo(case)
            label, target = "demo", TARGET_DEMO
        else:
            result, version = _bridged(case, n)
            label, target = f"{n} bridged devices", TARGET_500 if n == 500 else None
        report.add(f"{label}: all entities in Home Assistant", result.all_visible, "s",
                   target=f"<= {target:g} s" if target else "",
                   met=result.all_visible <= target if target else None,
                   note=f"{result.entities} entities")
        report.add(f"{label}: gateway's last discovery sent", result.last_discovery, "s")
    report.notes.append(
        f"Home Assistant {version} (REST /api/states polled every {POLL:g} s, so each time is "
        f"up to {POLL:g} s late) and mosquitto on loopback; the clock starts with the "
        "gateway (the demo: when it starts its gateway, its devices already up; N devices: "
        f"the ocfaj run process, {PER_PROCESS} simulated AllJoyn lights per process, only "
        "the AllJoyn and MQTT sides on). \"last discovery sent\" is when the broker carried "
        "the last discovery document of those entities: the rest is Home Assistant's.")
    return report
