"""The AllJoyn side of the gateway: the one object the daemon constructs for D-Bus.

Layer: ``bridge.alljoyn`` facade. Owns the bus connection (system, session or an address), the
About consumer (devices found on the bus become Things), the command handler for those Things
and the virtual producers for the Things of the other sides. When the bus goes away (for
example a dbus-daemon restart) it reconnects with a backoff that doubles from one second up to
``reconnect_max_delay`` and rebuilds everything: match rules, the scan, every producer.
It talks to the other sides only through the registry and its events.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from dbus_fast.aio import MessageBus

from bridge.alljoyn.bus import BusChoice, connect, parse_bus
from bridge.alljoyn.commands import AllJoynCommands
from bridge.alljoyn.config import AllJoynConfig
from bridge.alljoyn.consumer import AboutConsumer
from bridge.alljoyn.producers import ProducerManager
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Side
from bridge.model.types import Catalogue

__all__ = ["AllJoynSide", "BusChoice", "parse_bus"]

log = logging.getLogger("ocfaj.alljoyn")

#: how long ``start()`` waits for the first connection before returning (it keeps trying).
_FIRST_CONNECT_WAIT = 15.0


class AllJoynSide:
    """``start()`` connects and begins discovery and export; ``shutdown()`` is idempotent."""

    def __init__(self, config: AllJoynConfig, registry: Registry, catalogue: Catalogue,
                 book: IdentityBook, gateway_name: str) -> None:
        self.config = config
        self.registry = registry
        self.catalogue = catalogue
        self.book = book
        self.gateway_name = gateway_name
        self.choice = parse_bus(config.bus)
        self.producers = ProducerManager(registry, self.choice, gateway_name,
                                         call_timeout=config.call_timeout,
                                         signal_batch=config.signal_batch,
                                         object_layout=config.object_layout)
        self.consumer = AboutConsumer(registry, catalogue, book,
                                      call_timeout=config.call_timeout,
                                      scan_timeout=config.scan_timeout,
                                      scan_languages=config.scan_languages,
                                      is_own=self.producers.is_own,
                                      poll_interval=config.poll_interval,
                                      poll_const=config.poll_const)
        self.commands = AllJoynCommands(self.consumer, config.call_timeout,
                                        read_cache=config.read_cache,
                                        read_through=config.read_through)
        self.bus: MessageBus | None = None
        self.reconnects = 0
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self.bus is not None and self.bus.connected

    async def start(self) -> None:
        """Connect, scan and export; returns after the first attempt (the side keeps retrying
        in the background when the bus is not there yet)."""
        if not self.config.enabled or self._task is not None:
            return
        self.registry.register_handler(Side.ALLJOYN, self.commands)
        self._task = asyncio.create_task(self._run(), name="alljoyn side")
        try:
            async with asyncio.timeout(_FIRST_CONNECT_WAIT):
                await self._ready.wait()
        except TimeoutError:
            log.warning("AllJoyn: %s not reachable yet; still trying", self.choice)

    async def shutdown(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        task, self._task = self._task, None
        await self.producers.stop()
        await self.consumer.detach("the gateway's AllJoyn side stopped")
        bus, self.bus = self.bus, None
        if bus is not None:
            bus.disconnect()
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.config.enabled,
            "bus": str(self.choice),
            "connected": self.connected,
            "reconnects": self.reconnects,
            "devices": self.consumer.device_count,
            "invalid_devices": len(self.consumer.invalid),
            "virtual_producers": self.producers.count,
            "producer_failures": self.producers.failures,
        }

    def bus_names(self) -> dict[str, str]:
        """Thing id -> the unique bus name a device has on this side: the device's own for
        one found on the bus, the gateway's virtual producer's for one exposed here."""
        return {**self.consumer.senders(), **self.producers.bus_names()}

    async def _run(self) -> None:
        first_delay = min(1.0, self.config.reconnect_max_delay)
        delay = first_delay
        while not self._stopping.is_set():
            try:
                bus = await connect(self.choice)
            except Exception as err:  # any failure to reach the bus is retried the same way
                log.warning("AllJoyn: cannot connect to %s (%s); retrying in %.1f s",
                            self.choice, err or type(err).__name__, delay)
                self._ready.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.reconnect_max_delay)
                continue
            delay = first_delay
            self.bus = bus
            try:
                await self.consumer.attach(bus)
                await self.producers.start()
                log.info("AllJoyn: connected to %s as %s; %d device(s), %d virtual producer(s)",
                         self.choice, bus.unique_name, self.consumer.device_count,
                         self.producers.count)
            except Exception as err:
                log.warning("AllJoyn: setting up on %s failed: %s", self.choice, err)
                bus.disconnect()
            self._ready.set()
            try:
                await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
            except Exception as err:
                log.debug("AllJoyn bus connection ended: %s", err)
            if self._stopping.is_set():
                return
            self.bus = None
            self.reconnects += 1
            log.warning("AllJoyn: lost the connection to %s; reconnecting", self.choice)
            await self.producers.stop()
            await self.consumer.detach("the gateway lost its D-Bus connection")
