"""Benchmark: instructions per GET of each server of the C anchor, counted by callgrind.

Layer: benchmark tooling. CPU time per request moves by tens of percent between runs on a
machine others share (docs/benchmarks.md); the number of instructions a process executes for
a request does not. Each server runs alone under valgrind's callgrind (``valgrind`` must be
installed, Debian package valgrind), is warmed up, then loaded by ``bench.coap_load``
sequentially, with 50 in flight and sequentially paced (a pause before each request, so
that each finds the server idle, as at full speed); around each load the counts are zeroed
and dumped with ``callgrind_control``, so a figure is the user-space instructions of that
load divided by its requests (what the kernel does for the system calls is not counted: the
servers make about the same calls per datagram, and ``bench/c_anchor.py`` measures the time
they take).

The servers: libcoap's ``coap-server`` (C), the three Python floors of ``bench.udp_floor``
(plain, ``--drain``, ``--mmsg``) and one virtual OCF device on the gateway's own serving code
(``bench.lean_server``: the OCF side with the lean GET path, without D-Bus and MQTT), on
asyncio's loop and on uvloop's. A
server under callgrind runs some fifty times slower, so at 50 in flight each wake-up of its
event loop finds many more datagrams waiting than at full speed: the draining rows show the
most that draining saves there; sequentially it often finds the client's next request
waiting too, which the paced rows (one datagram per wake-up) rule out.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

from bench.c_anchor import PATH, start_c_server
from bench.coap_load import CoapLoad
from bench.stats import Report
from bridge.sim.testing.procs import free_udp_port

NAME = "instructions"
COUNTS = {"full": 1000, "quick": 300, "tiny": 50}
IN_FLIGHT = 50
WARM_UP = 200
#: Requests of the paced sequential load at most, and the seconds before each (the server,
#: even under callgrind, has answered the one before and gone back to wait).
PACED = 300
PACE = 0.005
#: Seconds a request to a server under callgrind may take before it is sent again.
SLOW = 30.0
#: Seconds a server under callgrind may take to start serving.
START = 120.0
#: The representation of a switch that is off, as the virtual device serves it.
PAYLOAD = bytes.fromhex("a16576616c7565f4")


def _valgrind(out: Path) -> list[str]:
    found = shutil.which("valgrind")
    if found is None:
        raise RuntimeError("valgrind is not installed (Debian package valgrind)")
    return [found, "--tool=callgrind", f"--callgrind-out-file={out}", "--combine-dumps=no"]


async def _python_server(out: Path, module: str, *args: str
                         ) -> tuple[asyncio.subprocess.Process, int]:
    """``python -m module [PORT] *args`` under callgrind: a floor listens on the PORT given
    and prints ``ready``; the lean server takes none and prints the port it serves on."""
    port = free_udp_port()
    argv = (module, *args) if module == "bench.lean_server" else (module, str(port), *args)
    process = await asyncio.create_subprocess_exec(
        *_valgrind(out), sys.executable, "-m", *argv, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    async with asyncio.timeout(START):
        line = (await process.stdout.readline()).strip()
    if line == b"ready":
        return process, port
    if line.isdigit():
        return process, int(line)
    raise RuntimeError(f"python -m {module} did not start under valgrind: {line!r}")


async def _callgrind_control(flag: str, pid: int) -> None:
    control = await asyncio.create_subprocess_exec(
        "callgrind_control", flag, str(pid), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    _, err = await control.communicate()
    if control.returncode:
        raise RuntimeError(f"callgrind_control {flag} {pid} failed: {err.decode().strip()}")


def _last_dump_instructions(out: Path) -> int:
    """The instructions of the newest dump callgrind wrote for ``out`` (``out.N``)."""
    dumps = sorted(out.parent.glob(out.name + ".*"), key=lambda p: int(p.suffix[1:]))
    for line in dumps[-1].read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dumps[-1]}")


async def _count(report: Report, label: str, pid: int, port: int, out: Path,
                 count: int) -> None:
    load = CoapLoad("127.0.0.1", port, PATH, timeout=SLOW)
    warm = await load.run(WARM_UP, IN_FLIGHT)
    if warm.errors or warm.payload != PAYLOAD:
        raise RuntimeError(f"{label} answered {warm.errors} GETs with an error or another "
                           f"payload ({warm.payload!r})")
    for in_flight in (1, IN_FLIGHT):
        await _callgrind_control("-z", pid)
        result = await load.run(count, in_flight)
        await _callgrind_control("-d", pid)
        kind = "sequential" if in_flight == 1 else f"{in_flight} in flight"
        report.add(f"{label}, {kind}: instructions per request",
                   _last_dump_instructions(out) / count, "instructions")
        report.add(f"{label}, {kind}: lost (retried)", result.lost, "requests")
    # Sequential at full speed, a server is faster than the client's round trip: each
    # request finds it idle, one datagram per wake-up. Under callgrind it is not, so the
    # plain sequential rows often find the next request waiting; these pause first.
    paced = min(count, PACED)
    await _callgrind_control("-z", pid)
    lost = 0
    for _ in range(paced):
        await asyncio.sleep(PACE)
        lost += (await load.run(1, 1)).lost
    await _callgrind_control("-d", pid)
    report.add(f"{label}, sequential, paced: instructions per request",
               _last_dump_instructions(out) / paced, "instructions")
    report.add(f"{label}, sequential, paced: lost (retried)", lost, "requests")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.stdin is not None:
        process.stdin.close()
    else:
        process.terminate()
    await process.wait()


async def measure(directory: Path, size: str) -> Report:
    report = Report(NAME)
    count = COUNTS[size]
    out = directory / "c-server.callgrind"
    c_server, c_port = await start_c_server(PAYLOAD, directory, _valgrind(out), wait=START)
    try:
        await _count(report, "C coap-server", c_server.pid, c_port, out, count)
    finally:
        await _stop(c_server)
    servers = [("Python UDP floor", "floor", ("bench.udp_floor", PAYLOAD.hex())),
               ("Python UDP floor, drained", "drained",
                ("bench.udp_floor", PAYLOAD.hex(), "--drain")),
               ("Python UDP floor, recvmmsg", "mmsg",
                ("bench.udp_floor", PAYLOAD.hex(), "--mmsg")),
               ("virtual OCF device, lean path, no daemon", "lean", ("bench.lean_server",)),
               ("virtual OCF device, lean path, no daemon, uvloop", "lean-uvloop",
                ("bench.lean_server", "--uvloop")),
               ("virtual OCF device, Python lean path, no daemon", "lean-python",
                ("bench.lean_server", "--python"))]
    for label, stem, args in servers:
        out = directory / f"{stem}.callgrind"
        process, port = await _python_server(out, *args)
        try:
            await _count(report, label, process.pid, port, out, count)
        finally:
            await _stop(process)
    report.notes.append(
        f"User-space instructions per GET {PATH} ({len(PAYLOAD)}-byte payload) counted by "
        f"callgrind, after {WARM_UP} warm-up requests: {count} sequential, then {count} at "
        f"{IN_FLIGHT} in flight, then {min(count, PACED)} sequential with {PACE * 1000:g} ms "
        "before each (paced: each finds the server idle, as at full speed), per server alone "
        "under valgrind (about fifty times slower, so at 50 in flight more datagrams wait per "
        "wake-up than at full speed). The "
        "kernel's part of each system call is not counted. The virtual OCF device is the "
        "gateway's OCF side alone (bench/lean_server.py), on asyncio's loop and on uvloop's "
        "([gateway] event_loop = \"uvloop\"), with the compiled GET path answering repeats "
        "(its thread's instructions counted with the rest), and once with the Python lean "
        "path answering them (--python, [ocf] lean_compiled = false).")
    return report


def run(directory: Path, size: str) -> Report:
    return asyncio.run(measure(directory, size))
