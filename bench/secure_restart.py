"""Secured OCF devices after a gateway restart: time until all are bridged again, and memory.

Layer: benchmark tooling. N secured simulated lights (``bench.secure_devices``, 50 per
process) are owned for the gateway before it first starts; the real ``ocfaj run`` reaches
them by unicast on 127.0.0.1 (``[ocf] unicast_peers``). The clock runs from the start of the
gateway's process until all N have announced themselves as AllJoyn applications on the
private bus (the gateway bridged each: read it over coaps and published its AllJoyn copy).
The gateway is started once, stopped, and started again with the credentials it kept: the
second start is the restart the target is about. The same N lights unsecured, in a gateway
of their own, give the baseline, and the RSS difference of the two gateways divided by N is
what one secured device costs the gateway as a client (its DTLS session, key, observations).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

from bench import procstat, rig
from bench.secure_devices import own_all, secured_simulators
from bridge.alljoyn.bus import connect, parse_bus

PER_PROCESS = 50
EXPOSE_TIMEOUT = 120.0


#: What the gateway logs when a device's set-up failed and waits for the next round, and
#: when a session counted as lost is established again.
RETRIED = "retrying next round"
RENEWED = "starting a new DTLS session"


@dataclass(frozen=True)
class Bridged:
    """One gateway start: seconds to READY and until all devices were announced; RSS; how
    many set-ups failed (retried a round later) and sessions were renewed meanwhile."""

    ready: float
    announced: float
    rss_mib: float
    retried: int = 0
    renewed: int = 0
    missing: tuple[str, ...] = ()
    """Devices not announced within ``EXPOSE_TIMEOUT`` (``announced`` is then that bound)."""
    warnings: tuple[str, ...] = ()
    """The gateway's warning and error lines of this start."""
    gateway_cpu: float = 0.0
    """CPU seconds the gateway used until then (its process is new at each start)."""
    simulators_cpu: float = 0.0
    """CPU seconds the simulator processes used meanwhile."""


def chunks(total: int, size: int = PER_PROCESS) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]


class Announcements:
    """Counts the AllJoyn applications whose DeviceName starts with ``prefix``."""

    def __init__(self, bus: MessageBus, prefix: str) -> None:
        self.prefix = prefix
        self.senders: set[str] = set()
        self.names: set[str] = set()
        self.changed = asyncio.Event()
        bus.add_message_handler(self._on_message)

    def _on_message(self, message: Message) -> None:
        if message.message_type is not MessageType.SIGNAL or message.member != "Announce":
            return
        name = message.body[3].get("DeviceName")
        if name is not None and str(name.value).startswith(self.prefix):
            self.senders.add(message.sender or "")
            self.names.add(str(name.value))
            self.changed.set()

    async def wait(self, count: int, within: float) -> None:
        async with asyncio.timeout(within):
            while len(self.senders) < count:
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def watching(address: str, prefix: str) -> AsyncIterator[Announcements]:
    bus = await connect(parse_bus(address))
    try:
        announcements = Announcements(bus, prefix)
        await rig.dbus_call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus", "AddMatch", "s",
                            ["type='signal',interface='org.alljoyn.About',member='Announce'"])
        yield announcements
    finally:
        bus.disconnect()


async def bring_up(gateway: rig.Gateway, address: str, prefix: str, names: set[str],
                   simulators: set[int]) -> Bridged:
    """Start ``gateway``; time until the devices ``names`` are on the bus."""
    count = len(names)
    logged = len(gateway.process.log())
    sims_before = sum(procstat.cpu_seconds(pid) for pid in simulators)
    async with watching(address, prefix) as announcements:
        began = time.monotonic()
        await asyncio.to_thread(gateway.start)
        ready = time.monotonic() - began
        with contextlib.suppress(TimeoutError):
            await announcements.wait(count, EXPOSE_TIMEOUT)
        took = time.monotonic() - began
        lines = gateway.process.log()[logged:]
        return Bridged(ready, took, gateway.rss_mib(), lines.count(RETRIED),
                       lines.count(RENEWED), tuple(sorted(names - announcements.names)),
                       tuple(line for line in lines.splitlines()
                             if " WARNING " in line or " ERROR " in line),
                       gateway.cpu_seconds(),
                       sum(procstat.cpu_seconds(pid) for pid in simulators) - sims_before)


async def secured(directory: Path, count: int) -> tuple[float, list[str], Bridged, Bridged]:
    """Own ``count`` secured lights, start the gateway, restart it. Returns the seconds the
    ownership of all took, the transfers that failed and were repeated, the first start and
    the restart."""
    prefix = "Secured light"
    with rig.private_bus(directory) as bus, \
            secured_simulators(directory, prefix, chunks(count)) as devices:
        gateway_dir = directory / "secured-gateway"
        began = time.monotonic()
        ownership = await own_all(gateway_dir / "state", devices)
        owning = time.monotonic() - began
        gateway = rig.Gateway(rig.GatewaySettings(
            bus=bus.address, ocf_peers=tuple(d.plain.uri for d in devices),
            log_level="info"), gateway_dir)
        pids, names = {d.pid for d in devices}, {d.name for d in devices}
        first = await bring_up(gateway, bus.address, prefix, names, pids)
        await asyncio.to_thread(gateway.stop)
        again = await bring_up(gateway, bus.address, prefix, names, pids)
        await asyncio.to_thread(gateway.stop)
    return owning, ownership.failures, first, again


async def plain(directory: Path, count: int) -> Bridged:
    """The same lights unsecured: the baseline."""
    prefix = "Plain light"
    with rig.private_bus(directory) as bus, \
            secured_simulators(directory, prefix, chunks(count), secure=False) as devices:
        gateway = rig.Gateway(rig.GatewaySettings(
            bus=bus.address, ocf_peers=tuple(d.plain.uri for d in devices), log_level="info"),
            directory / "plain-gateway")
        bridged = await bring_up(gateway, bus.address, prefix, {d.name for d in devices},
                                 {d.pid for d in devices})
        await asyncio.to_thread(gateway.stop)
    return bridged


def per_device_kib(secured_mib: float, plain_mib: float, count: int) -> float:
    return (secured_mib - plain_mib) * 1024 / count if count else math.nan
