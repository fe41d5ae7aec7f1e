"""Benchmark 6: the gateway's memory under unauthenticated CoAP floods, and after them.

A real gateway (``ocfaj run``, the shipped caps of ``[ocf]`` but a short ``observe_check`` and
``upload_expiry``, and the shipped systemd unit's ``PYTHONMALLOC=malloc``) publishes one
AllJoyn simulator as a virtual OCF device on 127.0.0.1. Clients on many loopback addresses
(127.0.0.2 ...) and a fresh port each then run the three floods of issue 15, one after the
other:

* register observations and vanish without deregistering (``observers``);
* send the first block of a block-wise upload and never the second (``uploads``);
* send plain GETs, each a new message the gateway remembers for 247 s (``requests``).

For each flood the gateway's RSS is read from /proc before it, sampled during it (peak), and
after it, once the gateway's own counters (``GetInfo`` of its control interface, the OCF
side's ``clients``) say that everything the flood left has ended and the memory was given
back: no observation, unfinished upload or remembered request held, at least one trim since
the flood began and none still to come. Observations end at their liveness check and
uploads at their expiry within seconds; remembered requests last the exchange lifetime of
247 s (RFC 7252 section 4.8.2), which no flood can shorten, so each flood takes about four
minutes. The next flood starts only then, so it meets no cap the previous one filled. The
target: after within 10 % of before.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path

from aiocoap import CON, GET, POST, Message
from aiocoap.optiontypes import BlockOption

from bench import rig
from bench.stats import Report
from bridge.alljoyn.bus import parse_bus
from bridge.alljoyn.control import query
from bridge.model import load_catalogue
from bridge.ocf.limits import EXCHANGE_LIFETIME
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
#: The longest wait for a flood's state to end: remembered requests last longest, and the
#: gateway looks at what it holds every 5 s; past this the benchmark reads RSS anyway.
SETTLE_WITHIN = EXCHANGE_LIFETIME + 60.0
#: How often the gateway's counters are asked while waiting.
ASK_EVERY = 1.0
SAMPLE_EVERY = 0.25
TARGET = 1.10
DEVICE = "Exhaustion lamp"
GATEWAY_NAME = "bench"
#: The environment of the shipped systemd unit (packaging/systemd/ocfaj.service).
UNIT_ENVIRONMENT = {"PYTHONMALLOC": "malloc"}
HELD = ("observers", "uploads", "requests")


async def _send(target: tuple[str, int], source: str, message: Message) -> str:
    """One datagram from a fresh port of ``source``; the answer's code ("" without one) is
    awaited briefly, then the socket closes like a client that goes away."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind((source, 0))
        sock.connect(target)
        await loop.sock_sendall(sock, message.encode())
        try:
            async with asyncio.timeout(2.0):
                return str(Message.decode(await loop.sock_recv(sock, 2048)).code.dotted)
        except TimeoutError:
            return ""


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


async def _flood(kind: str, count: int, target: tuple[str, int]) -> Counter[str]:
    codes: Counter[str] = Counter()
    batch = 100
    for start in range(0, count, batch):
        codes.update(await asyncio.gather(*(
            _send(target, f"127.0.0.{2 + n % ADDRESSES}", _message(kind, n))
            for n in range(start, min(count, start + batch)))))
    return codes


async def _peak_while(gateway: rig.Gateway, work: Awaitable[Counter[str]]) -> tuple[
        Counter[str], float]:
    """``work``'s result and the highest RSS sampled while it ran."""
    peak = gateway.rss_mib()
    task = asyncio.ensure_future(work)
    while not task.done():
        await asyncio.wait([task], timeout=SAMPLE_EVERY)
        peak = max(peak, gateway.rss_mib())
    return task.result(), peak


async def _clients(bus: str) -> dict[str, int]:
    """The gateway's count of what clients make it keep, and of its trims so far."""
    info = await query(bus, GATEWAY_NAME, "GetInfo")
    return {key: int(value) for key, value in info["parts"]["ocf"]["clients"].items()}


async def _settled(bus: str, trims_before: int) -> tuple[bool, float, dict[str, int]]:
    """Wait until the flood's state has ended and its memory was given back (nothing held,
    a trim since ``trims_before``, none to come) or ``SETTLE_WITHIN`` passed: whether it
    ended, the seconds that took, and the last counts."""
    began = time.monotonic()
    while True:
        counts = await _clients(bus)
        ended = (not any(counts[key] for key in HELD) and not counts["memory_trim_pending"]
                 and counts["memory_trims"] > trims_before)
        waited = time.monotonic() - began
        if ended or waited >= SETTLE_WITHIN:
            return ended, waited, counts
        await asyncio.sleep(ASK_EVERY)


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
        gateway = rig.Gateway(settings, directory / "gateway",
                              env={**os.environ, **UNIT_ENVIRONMENT})
        try:
            await asyncio.to_thread(gateway.start)
            async with rig.CoapClient() as coap:
                endpoint = await coap.wait_for_device(
                    f"coap://127.0.0.1:{gateway.server_port}", DEVICE)
                await coap.get(f"{endpoint}/switch")
            host, port = endpoint.removeprefix("coap://").rsplit(":", 1)
            target = (host, int(port))
            waits = []
            for kind, count in floods.items():
                trims = (await _clients(bus_daemon.address))["memory_trims"]
                before = gateway.rss_mib()
                codes, peak = await _peak_while(gateway, _flood(kind, count, target))
                ended, waited, counts = await _settled(bus_daemon.address, trims)
                after = gateway.rss_mib()
                waits.append(f"{kind} {waited:.0f} s" + ("" if ended else (
                    " (not ended: " + ", ".join(f"{counts[k]} {k}" for k in HELD) + " held)")))
                taken = sum(n for code, n in codes.items() if code in ("2.05", "2.31"))
                label = f"{count:,} {kind}"
                report.add(f"{label}: taken", taken, "requests", note=f"5.03: {codes['5.03']}")
                report.add(f"{label}: RSS before", before, "MiB")
                report.add(f"{label}: RSS peak", peak, "MiB", baseline=before)
                report.add(f"{label}: RSS after", after, "MiB", baseline=before,
                           target=f"<= {TARGET:.2f} x before", met=after <= before * TARGET)
            report.notes.append(
                f"{ADDRESSES} client addresses, a fresh port per message; the gateway with the "
                f"shipped caps, observe_check = {OBSERVE_CHECK:g} s and upload_expiry = "
                f"{UPLOAD_EXPIRY:g} s, PYTHONMALLOC=malloc as in the shipped systemd unit. "
                "\"taken\": answered 2.05 (observations, requests) or 2.31 (first blocks); "
                "the rest got 5.03 from a cap. \"after\" was read once the gateway's counters "
                "held no observation, upload or remembered request and it had trimmed its "
                "memory since the flood began, with no trim still to come: "
                f"{', '.join(waits)} after the end of each flood (remembered requests last "
                "247 s).")
        finally:
            await asyncio.to_thread(gateway.stop)
            await simulator.stop()
    return report


def run(directory: Path, size: str) -> Report:
    return asyncio.run(measure(directory, FLOODS[size]))
