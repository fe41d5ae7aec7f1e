"""JSON-lines control of a simulator process (``ocfaj simulate``) through stdin and stdout.

Layer: ``bridge.sim``. Tests and scripts drive a simulator that runs in another process (or
another network namespace) with one JSON object per line on its stdin, and read one JSON
object per line of events from its stdout:

stdin commands
  ``{"cmd": "set", "device": "Lamp", "capability": "switch", "values": {"on": true}}``
  ``{"cmd": "leave", "device": "Lamp"}``   the device vanishes without goodbye
  ``{"cmd": "return", "device": "Lamp"}``  and comes back (OCF: on new ports)
  ``{"cmd": "faults", "device": "Lamp", "drop": 0.3, "delay": 0.2, "error": 0.1,
  "error_code": 503, "malformed": 0.1, "seed": 7}``  replaces the device's fault injection
  (keys left out are 0; ``"paths": ["/oic/d"]`` limits them to those OCF hrefs;
  ``{"cmd": "faults", "device": "Lamp"}`` turns faults off)
  ``{"cmd": "reset", "device": "Lamp"}``  a secured OCF device is reset by its user (unowned
  again, new uuid and PIN); answered ``{"event": "reset", "device": "Lamp", "pin",
  "deviceuuid", "di"}``
  ``{"cmd": "stats", "device": "Lamp"}``   answered ``{"event": "stats", "device": "Lamp",
  ...}`` with what the simulated stack counted (OCF: ``bridge.sim.ocf_stack``, and the GETs
  the device was asked by kind and href: ``"GET /switch"``, ``"observe /switch"``)
  ``{"cmd": "ping"}``                      answered ``{"event": "pong"}``: every command
                                          sent before it has been carried out
  ``{"cmd": "stop"}``                      the process exits cleanly
stdout events
  ``{"event": "ready", "device": "Lamp", ...identity and endpoint facts}``
  ``{"event": "received", "device": "Lamp", "capability": "switch", "values": {"on": true}}``
  ``{"event": "faults", "device": "Lamp", ...the settings now in force}``
  ``{"event": "error", "message": "..."}`` for a command line that could not be carried out
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from bridge.sim.device import SimDevice
from bridge.sim.fault_args import describe, faults_from_mapping


class SimServer(Protocol):
    """What a protocol simulator offers to the control loop."""

    device: SimDevice

    async def start(self) -> Mapping[str, Any]:
        """Serve the device; returns the facts for the ``ready`` event."""
        ...

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        ...

    async def vanish(self) -> None:
        """Disappear without any goodbye (no deregistration, no final signal)."""
        ...


def emit(event: Mapping[str, Any]) -> None:
    """Write one event line to stdout (flushed, so a reading test sees it at once)."""
    sys.stdout.write(json.dumps(event, default=_json_default, sort_keys=True) + "\n")
    sys.stdout.flush()


def _json_default(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    raise TypeError(f"cannot encode {type(value).__name__}")


def report_writes(server: SimServer) -> None:
    """Emit a ``received`` event for every write a client makes to the device."""
    device = server.device
    original = device.write

    def write(capability: str, values: Mapping[str, Any]) -> dict[str, Any]:
        changed = original(capability, values)
        emit({"event": "received", "device": device.name, "capability": capability,
              "values": dict(values)})
        return changed

    device.write = write  # type: ignore[method-assign]


async def run_control(servers: list[SimServer], stop: asyncio.Event,
                      readline: Callable[[], Awaitable[bytes]] | None = None,
                      on_ready: Callable[[], None] | None = None) -> None:
    """Start every server, report ``ready``, then obey stdin until ``stop`` or end of input.

    ``on_ready`` is called once every server has started (scenarios start behaviours there).
    """
    by_name = {server.device.name: server for server in servers}
    for server in servers:
        report_writes(server)
        facts = await server.start()
        emit({"event": "ready", "device": server.device.name, **facts})
    if on_ready is not None:
        on_ready()
    reader = readline or _stdin_reader()
    while not stop.is_set():
        line_task = asyncio.ensure_future(reader())
        stop_task = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({line_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if stop_task in done:
            line_task.cancel()
            break
        stop_task.cancel()
        line = line_task.result()
        if not line:
            await stop.wait()  # stdin closed: keep serving until signalled
            break
        try:
            await _obey(json.loads(line), by_name, stop)
        except Exception as err:
            emit({"event": "error", "message": f"{type(err).__name__}: {err}"})
    for server in servers:
        await server.stop()


async def _obey(command: Any, by_name: dict[str, SimServer], stop: asyncio.Event) -> None:
    if not isinstance(command, dict) or not isinstance(command.get("cmd"), str):
        raise ValueError("a command is an object with a 'cmd' string")
    cmd = command["cmd"]
    if cmd == "stop":
        stop.set()
        return
    if cmd == "ping":
        emit({"event": "pong"})
        return
    server = by_name.get(command.get("device", ""))
    if server is None:
        raise ValueError(f"unknown device {command.get('device')!r}")
    if cmd == "set":
        server.device.set(command["capability"], command["values"])
    elif cmd == "leave":
        await server.vanish()
        emit({"event": "left", "device": server.device.name})
    elif cmd == "return":
        facts = await server.start()
        emit({"event": "ready", "device": server.device.name, **facts})
    elif cmd == "reset":
        reset = getattr(server, "reset", None)
        if not callable(reset):
            raise ValueError(f"{server.device.name} is not a secured device: nothing to reset")
        emit({"event": "reset", "device": server.device.name, **reset()})
    elif cmd == "stats":
        stats = getattr(server, "stats", None)
        emit({"event": "stats", "device": server.device.name,
              **(stats() if callable(stats) else {})})
    elif cmd == "faults":
        settings = {k: v for k, v in command.items() if k not in ("cmd", "device")}
        server.device.faults = faults_from_mapping(settings)
        emit({"event": "faults", "device": server.device.name,
              **describe(server.device.faults)})
    else:
        raise ValueError(f"unknown command {cmd!r}")


def _stdin_reader() -> Callable[[], Awaitable[bytes]]:
    """Lines of stdin, read by a daemon thread of its own from the bare file descriptor.

    Not through the loop's executor: ``asyncio.run`` waits for the executor's threads when it
    ends, and a thread blocked in ``readline`` on a stdin nobody closes kept a signalled
    simulator running until it was killed (tests waited 5 s for every simulator they stopped;
    a user's Ctrl-C hung until Enter). A daemon thread ends with the process; it reads with
    ``os.read`` because a thread blocked inside ``sys.stdin.buffer`` holds that buffer's lock,
    which the interpreter takes at exit (and aborts when it cannot).
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes] = asyncio.Queue()
    if sys.stdin is None:  # started with its stdin closed: as at the end of input
        lines.put_nowait(b"")
        return lines.get
    fd = sys.stdin.fileno()

    def deliver(line: bytes) -> bool:
        try:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        except RuntimeError:  # the loop has closed: nobody reads any more
            return False
        return True

    def pump() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                if pending:
                    deliver(pending)
                deliver(b"")
                return
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                if not deliver(line + b"\n"):
                    return

    threading.Thread(target=pump, name="stdin-commands", daemon=True).start()
    return lines.get
