"""Benchmark 6: the gateway's memory under unauthenticated CoAP floods, and after them.

A real gateway (``ocfaj run``, the shipped caps of ``[ocf]`` but a short ``observe_check`` and
``upload_expiry`` so that the run ends in minutes) publishes one AllJoyn simulator as a virtual
OCF device on 127.0.0.1. Clients on many loopback addresses (127.0.0.2 ...) and a fresh port
each then, one flood after the other:

* register observations and vanish without deregistering (``observers``);
* send the first block of a block-wise upload and never the second (``uploads``);
* send plain GETs, each a new message the gateway would remember for 247 s (``requests``).

The gateway's RSS is read from /proc before (baseline), at the end of each flood (peak), and
once the load has stopped and the checks and expiries have run (after). The target: after
within 10 % of the baseline.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from aiocoap import CON, GET, POST, Message
from aiocoap.optiontypes import BlockOption

from bench import rig
from bench.stats import Report
from bridge.alljoyn.bus import parse_bus
from bridge.model import load_catalogue
from bridge.sim.alljoyn import AllJoynSimServer
from bridge.sim.device import SimDevice

NAME = "exhaustion"
FLOODS = {"full": {"observers": 5000, "uploads": 20000, "requests": 10000},
          "quick": {"observers": 2000, "uploads": 5000, "requests": 3000},
          "tiny": {"observers": 300, "uploads": 300, "requests": 300}}
#: client addresses the floods come from (127.0.0.2 ...), each with a fresh port per message.
ADDRESSES = 60
OBSERVE_CHECK = 5.0
UPLOAD_EXPIRY = 5.0
SETTLE_WITHIN = 60.0
TARGET = 1.10
DEVICE = "Exhaustion lamp"


async def _send(target: tuple[str, int], source: str, message: Message) -> None:
    """One datagram from a fresh port of ``source``; the answer is awaited briefly, then the
    socket closes like a client that goes away."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind((source, 0))
        sock.connect(target)
        await loop.sock_sendall(sock, message.encode())
        try:
            async with asyncio.timeout(2.0):
                await loop.sock_recv(sock, 2048)
        except TimeoutError:
            pass


def _message(kind: str, number: int) -> Message:
    if kind == "uploads":
        message = Message(code=POST, uri_path=("switch",), payload=b"x" * 64)
        message.opt.block1 = BlockOption.BlockwiseTuple(0, True, 2)
    else:
        message = Message(code=GET, uri_path=("switch",))
        if kind == "observers":
            message.opt.observe = 0
    message.mtype = CON
    message.mid = number & 0xFFFF
    message.token = number.to_bytes(4, "big")
    return message


async def _flood(kind: str, count: int, target: tuple[str, int]) -> None:
    batch = 100
    for start in range(0, count, batch):
        await asyncio.gather(*(
            _send(target, f"127.0.0.{2 + n % ADDRESSES}", _message(kind, n))
            for n in range(start, min(count, start + batch))))


async def measure(directory: Path, floods: dict[str, int]) -> Report:
    report = Report(NAME)
    catalogue = load_catalogue()
    with rig.private_bus(directory) as bus_daemon:
        simulator = AllJoynSimServer(SimDevice(DEVICE, catalogue, ["switch"]),
                                     parse_bus(bus_daemon.address))
        await simulator.start()
        settings = rig.GatewaySettings(
            bus=bus_daemon.address,
            ocf_extra=f"observe_check = {OBSERVE_CHECK}\nupload_expiry = {UPLOAD_EXPIRY}\n")
        gateway = rig.Gateway(settings, directory / "gateway")
        try:
            await asyncio.to_thread(gateway.start)
            async with rig.CoapClient() as coap:
                endpoint = await coap.wait_for_device(
                    f"coap://127.0.0.1:{gateway.server_port}", DEVICE)
                await coap.get(f"{endpoint}/switch")
            host, port = endpoint.removeprefix("coap://").rsplit(":", 1)
            target = (host, int(port))
            baseline = gateway.rss_mib()
            report.add("RSS before the floods", baseline, "MiB")
            peak = baseline
            for kind, count in floods.items():
                await _flood(kind, count, target)
                now = gateway.rss_mib()
                peak = max(peak, now)
                report.add(f"RSS after {count:,} {kind}", now, "MiB", baseline=baseline)
            began = time.monotonic()
            after = gateway.rss_mib()
            while after > baseline * TARGET and time.monotonic() - began < SETTLE_WITHIN:
                await asyncio.sleep(1.0)
                after = gateway.rss_mib()
            report.add("RSS peak", peak, "MiB", baseline=baseline)
            report.add("RSS after the load stopped", after, "MiB", baseline=baseline,
                       target=f"<= {TARGET:.2f} x before", met=after <= baseline * TARGET)
            report.notes.append(
                f"{ADDRESSES} client addresses, a fresh port per message; the gateway with the "
                f"shipped caps, observe_check = {OBSERVE_CHECK:g} s and upload_expiry = "
                f"{UPLOAD_EXPIRY:g} s; \"after\" read {time.monotonic() - began:.0f} s after "
                "the last flood.")
        finally:
            await asyncio.to_thread(gateway.stop)
            await simulator.stop()
    return report


def run(directory: Path, size: str) -> Report:
    return asyncio.run(measure(directory, FLOODS[size]))
