"""Benchmark: GET on a virtual OCF device against a plain aiocoap server and a C CoAP server.

Layer: benchmark tooling. In one run, with the same clients, four servers answer GET of a
resource with the same payload (the bytes the gateway's virtual device returns for
``/switch``):

- the gateway's virtual OCF copy of an AllJoyn light (``bench.pair``: real ``ocfaj run``),
  three times: on asyncio's event loop, as a default install runs, with
  ``[gateway] event_loop = "uvloop"`` (the extra ``uvloop``), and with
  ``[ocf] lean_compiled = false`` (the Python lean path answers the repeats the compiled GET
  path's thread answers otherwise);
- a plain aiocoap server with one resource (``bench.aiocoap_server``, its own process);
- libcoap's ``coap-server`` (Debian's libcoap3-bin, ``coap-server-notls``), whose dynamic
  resource ``/switch`` is created with a PUT of the same bytes by ``coap-client-notls``;
- a floor of Python servers on asyncio (``bench.udp_floor``): a bare datagram protocol
  that answers every CON with the same bytes, reading only the header and token; and the same
  floor twice more, once reading every waiting datagram per wake-up of the event loop
  (``--drain``) and once with ``recvmmsg``/``sendmmsg`` (``--mmsg``), to show what fewer
  event loop rounds and system calls per request save in Python.

Then the C server and the three gateways are loaded in turn, sequentially, for several rounds
(the interleaved rows), so that a drift of the machine's speed falls on all four alike.

Two clients load each server, sequentially (one request in flight) and with 50 in flight: the
raw-UDP generator of ``bench.coap_load`` (lean, so the servers are the limit) and aiocoap's
client (what the other benchmarks use). Rows: req/s, p50, p99, each server's CPU per request
(the scheduler's count in ``/proc``, so its capacity on one core is 1 s / that) and the ratio
to the C server.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiocoap

from bench import procstat
from bench.coap_load import CoapLoad, LoadResult
from bench.pair import bridged_pair
from bench.stats import Report, percentile, rate
from bridge.sim.testing.procs import free_udp_port

NAME = "c_anchor"
PATH = "/switch"
COUNTS = {"full": (1000, 5000), "quick": (300, 1500), "tiny": (40, 200)}
"""(sequential requests, requests at 50 in flight) per server and client."""
IN_FLIGHT = 50
WARM_UP = 50
#: Rounds of the interleaved sequential rows (C server, virtual device, on uvloop).
ROUNDS = 5
C_SERVER = "coap-server-notls"
C_CLIENT = "coap-client-notls"
#: The rows of the Python floor: label, flags of ``python -m bench.udp_floor``.
FLOORS = (("Python UDP floor", ()), ("Python UDP floor, drained", ("--drain",)),
          ("Python UDP floor, recvmmsg", ("--mmsg",)))


@dataclass(frozen=True)
class Server:
    label: str
    host: str
    port: int
    pid: int


Load = Callable[[Server, int, int], Awaitable[LoadResult]]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (Debian package libcoap3-bin); "
                           "scripts/bench installs it")
    return found


async def raw_load(server: Server, count: int, in_flight: int) -> LoadResult:
    return await CoapLoad(server.host, server.port, PATH).run(count, in_flight)


def aiocoap_load(context: aiocoap.Context) -> Load:
    async def load(server: Server, count: int, in_flight: int) -> LoadResult:
        uri = f"coap://{server.host}:{server.port}{PATH}"
        result = LoadResult()
        remaining = count

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                began = time.perf_counter()
                response = await context.request(
                    aiocoap.Message(code=aiocoap.GET, uri=uri)).response
                result.latencies_ms.append((time.perf_counter() - began) * 1000)
                result.errors += response.code != aiocoap.CONTENT
                result.payload = response.payload

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        result.seconds = time.perf_counter() - wall
        result.client_cpu_seconds = time.process_time() - cpu
        return result

    return load


async def start_c_server(payload: bytes, directory: Path, wrapper: Sequence[str] = (),
                         wait: float = 10.0) -> tuple[asyncio.subprocess.Process, int]:
    """libcoap's server on 127.0.0.1 serving ``payload`` at ``PATH``, run under the command
    ``wrapper`` (such as valgrind) when given; its port once it answers a GET."""
    port = free_udp_port()
    process = await asyncio.create_subprocess_exec(
        *wrapper, _tool(C_SERVER), "-A", "127.0.0.1", "-p", str(port), "-d", "4", "-v", "0",
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body = directory / "payload.cbor"
    body.write_bytes(payload)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"{C_SERVER} exited with {process.returncode}")
        put = await asyncio.create_subprocess_exec(
            _tool(C_CLIENT), "-m", "put", "-t", "10000", "-f", str(body), "-B", "2",
            f"coap://127.0.0.1:{port}{PATH}", stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        await put.wait()
        probe = await CoapLoad("127.0.0.1", port, PATH, timeout=wait / 20).run(1)
        if probe.payload == payload and not probe.errors and not probe.lost:
            return process, port
        await asyncio.sleep(0.1)
    process.kill()
    await process.wait()
    raise RuntimeError(f"{C_SERVER} did not serve {PATH} within {wait:.0f} s")


async def _start_python_server(module: str, *args: str) -> tuple[asyncio.subprocess.Process,
                                                                    int]:
    """``python -m module PORT *args`` (a server of this directory that prints ``ready``)."""
    port = free_udp_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, str(port), *args,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None
    async with asyncio.timeout(20.0):
        line = await process.stdout.readline()
    if line.strip() != b"ready":
        raise RuntimeError(f"{module} did not start: {line!r}")
    return process, port


async def _measure_all(report: Report, servers: list[Server], loads: dict[str, Load],
                       counts: tuple[int, int], payload: bytes) -> None:
    c_label = servers[0].label  # the C server is measured first in every round
    for client, load in loads.items():
        for in_flight, count in ((1, counts[0]), (IN_FLIGHT, counts[1])):
            kind = "sequential" if in_flight == 1 else f"{in_flight} in flight"
            figures: dict[str, tuple[float, float, float]] = {}
            for server in servers:
                await load(server, WARM_UP, min(in_flight, WARM_UP))
                cpu = procstat.run_seconds(server.pid)
                faults = procstat.minor_faults(server.pid)
                sleeps = procstat.sleeps(server.pid)
                result = await load(server, count, in_flight)
                server_cpu = procstat.run_seconds(server.pid) - cpu
                faults = procstat.minor_faults(server.pid) - faults
                sleeps = procstat.sleeps(server.pid) - sleeps
                if result.errors or result.payload != payload:
                    raise RuntimeError(f"{server.label} answered {result.errors} GETs with "
                                       f"an error or another payload ({result.payload!r})")
                figures[server.label] = (rate(len(result.latencies_ms), result.seconds),
                                         percentile(result.latencies_ms, 0.5),
                                         percentile(result.latencies_ms, 0.99))
                prefix = f"{server.label}, {client}, {kind}"
                c_rate, c_p50, c_p99 = figures.get(c_label, (float("nan"),) * 3)
                req_s, p50, p99 = figures[server.label]
                report.add(f"{prefix}: req/s", req_s, "req/s", baseline=c_rate)
                report.add(f"{prefix}: p50", p50, "ms", baseline=c_p50)
                report.add(f"{prefix}: p99", p99, "ms", baseline=c_p99)
                report.add(f"{prefix}: server CPU per request",
                           server_cpu / count * 1e6, "us CPU")
                report.add(f"{prefix}: server page faults per request", faults / count,
                           "faults")
                report.add(f"{prefix}: requests per server sleep", count / max(sleeps, 1),
                           "requests")
                report.add(f"{prefix}: client CPU load",
                           result.client_cpu_seconds / result.seconds * 100, "% of a core")
                report.add(f"{prefix}: lost (retried)", result.lost, "requests")


async def _interleaved(report: Report, servers: list[Server], rounds: int, count: int) -> None:
    """Sequential GETs from the raw client, ``rounds`` times over the ``servers`` in turn
    (``count`` each per round): a drift of the machine's speed during the run falls on every
    server alike, which one block per server does not ensure. The C server is first."""
    totals = {server.label: [0.0, 0.0] for server in servers}
    for _ in range(rounds):
        for server in servers:
            await raw_load(server, WARM_UP, 1)
            cpu = procstat.run_seconds(server.pid)
            result = await raw_load(server, count, 1)
            if result.errors:
                raise RuntimeError(f"{server.label} answered {result.errors} GETs with an error")
            totals[server.label][0] += result.seconds
            totals[server.label][1] += procstat.run_seconds(server.pid) - cpu
    c_seconds, c_cpu = totals[servers[0].label]
    requests = rounds * count
    for server in servers:
        seconds, cpu = totals[server.label]
        prefix = f"{server.label}, raw UDP client, sequential, {rounds} interleaved rounds"
        report.add(f"{prefix}: req/s", requests / seconds, "req/s",
                   baseline=requests / c_seconds)
        report.add(f"{prefix}: server CPU per request", cpu / requests * 1e6, "us CPU",
                   baseline=c_cpu / requests * 1e6)


async def measure(directory: Path, size: str) -> Report:
    report = Report(NAME)
    async with bridged_pair(directory, ["switch"]) as pair, \
            bridged_pair(directory / "uvloop", ["switch"], event_loop="uvloop") as fast, \
            bridged_pair(directory / "python", ["switch"],
                         ocf_extra="lean_compiled = false\n") as in_python:
        gateway, on_uvloop = urlsplit(pair.virtual_ocf), urlsplit(fast.virtual_ocf)
        python_path = urlsplit(in_python.virtual_ocf)
        assert gateway.hostname and gateway.port
        assert on_uvloop.hostname and on_uvloop.port
        assert python_path.hostname and python_path.port
        probe = await CoapLoad(gateway.hostname, gateway.port, PATH).run(1)
        if probe.errors or probe.lost:
            raise RuntimeError(f"GET {pair.virtual_ocf}{PATH} failed")
        payload = probe.payload
        c_server, c_port = await start_c_server(payload, directory)
        py_server, py_port = await _start_python_server("bench.aiocoap_server", PATH,
                                                        payload.hex())
        floors = [(label, *await _start_python_server("bench.udp_floor", payload.hex(), *flag))
                  for label, flag in FLOORS]
        try:
            servers = [Server("C coap-server", "127.0.0.1", c_port, c_server.pid),
                       Server("virtual OCF device", gateway.hostname, gateway.port,
                              pair.gateway.pid),
                       Server("virtual OCF device, uvloop", on_uvloop.hostname,
                              on_uvloop.port, fast.gateway.pid),
                       Server("virtual OCF device, Python lean path", python_path.hostname,
                              python_path.port, in_python.gateway.pid),
                       Server("plain aiocoap", "127.0.0.1", py_port, py_server.pid),
                       *(Server(label, "127.0.0.1", port, floor.pid)
                         for label, floor, port in floors)]
            loads = {"raw UDP client": raw_load,
                     "aiocoap client": aiocoap_load(pair.coap.context)}
            await _measure_all(report, servers, loads, COUNTS[size], payload)
            await _interleaved(report, servers[:4], ROUNDS, COUNTS[size][0] * 3)
        finally:
            c_server.terminate()
            await c_server.wait()
            for process in (py_server, *(floor for _, floor, _ in floors)):
                assert process.stdin is not None
                process.stdin.close()
                await process.wait()
    report.notes.append(
        f"GET {PATH} with a {len(payload)}-byte payload. Per server, client and load: "
        f"{WARM_UP} warm-up requests, then {COUNTS[size][0]} sequential or {COUNTS[size][1]} "
        f"at {IN_FLIGHT} in flight. The virtual OCF device runs on asyncio's event loop, as a "
        "default install does; its uvloop row is a second gateway with [gateway] event_loop = "
        "\"uvloop\" (the extra uvloop). Both answer repeated GETs on the compiled GET path (a C "
        "thread, ocf.lean_compiled); the Python lean path row is a third gateway with "
        "lean_compiled = false. The raw baseline of each row is libcoap's "
        "coap-server (C) under the same client and load in the same run. The raw UDP client is "
        "bench/coap_load.py; its CPU load shows whether it was the limit. The Python UDP "
        "floor (bench/udp_floor.py) answers every request with the same bytes and reads "
        "nothing else, on asyncio's datagram transport; its drained row reads every waiting "
        "datagram per event loop wake-up on the socket's own reader, its recvmmsg row reads "
        "and answers them with one recvmmsg and one sendmmsg. Server CPU is the scheduler's "
        "count (/proc/PID/task/*/schedstat, in ns); requests per server sleep are the "
        "requests over the voluntary context switches of its main thread (the compiled path "
        "serves on a thread of its own, so a gateway's main thread hardly sleeps per request). "
        "The interleaved rows "
        f"load the C server and the three gateways in turn, {ROUNDS} rounds of "
        f"{COUNTS[size][0] * 3} sequential GETs each, so that a drift of the machine's speed "
        "falls on all four alike.")
    return report


def run(directory: Path, size: str) -> Report:
    return asyncio.run(measure(directory, size))
