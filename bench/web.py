"""What the web page costs: ``python -m bench.web [--devices N] [--json]``.

Layer: benchmark tooling (issue 20 point 6). Two fresh child processes each build a gateway
with no protocol side running (their modules are imported, as in a running gateway) and N
devices of the shipped light model in its registry; one leaves
the web page off, the other serves it on 127.0.0.1 and has answered one device list. The
difference of their VmRSS is what the web part adds. The second child then times
``GET /api/devices`` (the whole list as JSON, over a real HTTP connection on loopback) and
reports the median and the slowest of the repetitions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procstat import rss_mib

DEFAULT_DEVICES = 1000
REPEAT = 30


def _things(catalogue: Any, count: int) -> list[Any]:
    from bridge.core.thing import Capability, DeviceInfo, Identity, Side, Thing

    switch, brightness = catalogue.capability("switch"), catalogue.capability("brightness")
    return [Thing(f"alljoyn:lamp-{i}", Side.ALLJOYN,
                  Identity(di=f"di-{i}", app_id=i.to_bytes(16, "big"), device_id=f"dev-{i}"),
                  DeviceInfo(f"Lamp {i}", device_types=("oic.d.light",)),
                  {"switch": Capability("switch", "/switch", model=switch, state={"on": False}),
                   "brightness": Capability("brightness", "/light", model=brightness,
                                            state={"brightness": i % 101})})
            for i in range(count)]


async def child(count: int, web: bool, state_dir: Path) -> dict[str, Any]:
    """One measurement in this process (run by :func:`measure` in a fresh interpreter)."""
    # What a running gateway has loaded anyway: its sides (built only when enabled).
    import bridge.alljoyn.control
    import bridge.alljoyn.side
    import bridge.discovery.broker
    import bridge.mqtt.side
    import bridge.ocf.side  # noqa: F401
    from bridge.daemon.config import parse_config
    from bridge.daemon.gateway import Gateway
    from bridge.model import load_catalogue

    config = parse_config({"gateway": {"state_dir": str(state_dir)},
                           "ocf": {"enabled": False}, "alljoyn": {"enabled": False},
                           "mqtt": {"enabled": False}, "web": {"enabled": web, "port": 0}},
                          env={})
    gateway = Gateway(config, load_catalogue())
    for thing in _things(gateway.catalogue, count):
        gateway.registry.upsert(thing)
    await gateway.start()
    result: dict[str, Any] = {}
    try:
        if web:
            url = gateway.describe_gateway()["parts"]["web"]["url"] + "api/devices"
            result.update(await _time_list(url, count))
        else:
            result["rss_mib"] = rss_mib(os.getpid())
    finally:
        await gateway.shutdown()
    return result


async def _get(host: str, port: int, path: str) -> bytes:
    """One ``GET`` over a fresh connection, without an HTTP client library (its memory would
    count as the page's): the body."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 "Connection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    return body


def _unchunk(data: bytes) -> bytes:
    """The body of a chunked transfer (sizes in hex, each chunk followed by CRLF)."""
    out = bytearray()
    while True:
        size_text, _, data = data.partition(b"\r\n")
        size = int(size_text.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[:size]
        data = data[size + 2:]


async def _time_list(url: str, count: int) -> dict[str, Any]:
    address = url.split("/")[2]
    host, _, port_text = address.rpartition(":")
    port = int(port_text)
    body = await _get(host, port, "/api/devices")
    assert body.count(b'"origin": ') == count, body[:200]
    # RSS after the first answer: the page's code and one served list are in memory.
    rss = rss_mib(os.getpid())
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        body = await _get(host, port, "/api/devices")
        times.append((time.perf_counter() - start) * 1000)
    return {"rss_mib": rss, "list_ms_median": statistics.median(times),
            "list_ms_max": max(times), "list_bytes": len(body)}


def measure(count: int) -> dict[str, Any]:
    results = {}
    for web in (False, True):
        with tempfile.TemporaryDirectory(prefix="ocfaj-bench-web-") as tmp:
            done = subprocess.run(
                [sys.executable, "-m", "bench.web", "--child", "--devices", str(count),
                 *(["--web"] if web else []), "--state-dir", tmp],
                capture_output=True, text=True, timeout=300, check=True)
        results["web" if web else "plain"] = json.loads(done.stdout)
    web_run, plain = results["web"], results["plain"]
    return {"devices": count, "rss_without_mib": round(plain["rss_mib"], 1),
            "rss_with_mib": round(web_run["rss_mib"], 1),
            "rss_added_mib": round(web_run["rss_mib"] - plain["rss_mib"], 1),
            "list_ms_median": round(web_run["list_ms_median"], 1),
            "list_ms_max": round(web_run["list_ms_max"], 1),
            "list_kib": round(web_run["list_bytes"] / 1024)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument("--devices", type=int, default=DEFAULT_DEVICES)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--web", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(child(args.devices, args.web, args.state_dir))))
        return 0
    result = measure(args.devices)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
