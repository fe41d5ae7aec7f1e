"""Virtual OCF devices for the Things of other sides, and the gateway's own bridge device.

Layer: ``bridge.ocf`` I/O (aiocoap server contexts). Subscribes to the registry's event bus:
each Thing that ``registry.exposable(thing, Side.OCF)`` allows gets a :class:`CoapEndpoint` on
its own ephemeral port; state changes notify observers; ``ThingRemoved`` withdraws it. While
its origin is unavailable a virtual device stays listed and its resources answer 5.03 (its
observers receive that 5.03, which ends their observation): clients see why, instead of a
device that silently disappeared and comes back with the same ``di``. One more endpoint on
``server_port`` (5683) joins the multicast groups, lists every virtual device with its own
``eps`` in ``/oic/res`` and serves the ``oic.d.bridge`` device with ``/bridge/vodlist``.
With ``secure`` (``[ocf] secure_virtual_devices``) every one of them is a
:class:`~bridge.ocf.secured_endpoint.SecuredEndpoint` whose security
(``bridge.ocf.virtual_security``) an OCF onboarding tool owns and provisions.
All of them answer only on ``interfaces`` (when given) and share one set of caps
(:class:`~bridge.ocf.limits.ClientLimits`): what clients may make the gateway keep is bounded
for the whole process, not per device; every ``TIDY_EVERY`` seconds what has expired is
dropped and, after a burst, the freed memory is returned (``bridge.ocf.memory``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.core.events import (
    AvailabilityChanged,
    Event,
    SignalEmitted,
    StateChanged,
    ThingAdded,
    ThingRemoved,
    ThingUpdated,
)
from bridge.core.registry import Command, Registry
from bridge.core.thing import Side, Thing
from bridge.model.types import Value
from bridge.ocf import wire
from bridge.ocf.coap_server import CoapEndpoint
from bridge.ocf.info import BRIDGE, DMV, ICV
from bridge.ocf.keyed_jobs import KeyedJobs
from bridge.ocf.lean_compiled import built, compiled_window
from bridge.ocf.limits import ClientLimits
from bridge.ocf.memory import MemoryRelease
from bridge.ocf.secured_endpoint import SecuredEndpoint
from bridge.ocf.served import ServedDevice, ServedResource
from bridge.ocf.svr_store import SecurityStore
from bridge.ocf.virtual_resources import VirtualLayout, build_layout, signal_values
from bridge.ocf.virtual_security import VirtualSecurity

if TYPE_CHECKING:
    from bridge.ocf.mfg_trust import DeviceCertificate

log = logging.getLogger("ocfaj.ocf.virtual")
_GATEWAY_NAMESPACE = uuid.UUID("8f0e4e90-79e5-11e6-bdf4-0800200c9a66")
_ECONAMES = {Side.ALLJOYN: "AllJoyn", Side.MQTT: "MQTT"}
#: Seconds between two looks at what clients make the gateway keep.
TIDY_EVERY = 5.0
#: Things whose virtual devices are published (or withdrawn) at the same time.
PUBLISH_AT_ONCE = 32


def gateway_identity(gateway_name: str) -> tuple[str, str, str]:
    """``di``, ``piid``, ``pi`` of the bridge device: stable for a gateway name."""
    return tuple(str(uuid.uuid5(_GATEWAY_NAMESPACE, f"ocfaj:{part}:{gateway_name}"))
                 for part in ("di", "piid", "pi"))  # type: ignore[return-value]


@dataclass(slots=True)
class _Virtual:
    thing: Thing
    layout: VirtualLayout
    endpoint: CoapEndpoint


class _Origin:
    """The registry as the resources of one virtual device reach their Thing (by id: the
    Thing object is replaced on every update). Its bound methods are what the resources
    call, one object per device instead of four closures."""

    __slots__ = ("registry", "thing_id")

    def __init__(self, registry: Registry, thing_id: str) -> None:
        self.registry = registry
        self.thing_id = thing_id

    def state_of(self, key: str) -> Mapping[str, Value]:
        current = self.registry.get(self.thing_id)
        cap = current.capabilities.get(key) if current is not None else None
        return cap.state if cap is not None else {}

    async def command(self, cmd: Command) -> Mapping[str, Value]:
        return await self.registry.command(self.thing_id, cmd, Side.OCF)

    async def fresh(self, key: str) -> bool:
        return await self.registry.read_through(self.thing_id, key)

    def reads_through(self, key: str) -> bool:
        # Due now (not only "reads through at all"): an AllJoyn capability read a moment
        # ago (within [alljoyn] read_cache) may be answered from the cached representation.
        return self.registry.read_due(self.thing_id, key)

    def fresh_until(self, key: str) -> float:
        # Until when reads_through stays false (inf: never reads through): the compiled GET
        # path answers from the kept representation until then.
        return self.registry.fresh_until(self.thing_id, key)


class VirtualOcfDevices:
    """Publishes virtual OCF devices; ``start``/``shutdown`` like every side component."""

    def __init__(self, registry: Registry, *, gateway_name: str, bind_host: str,
                 server_port: int, multicast: list[tuple[str, str]], max_payload: int,
                 limits: ClientLimits | None = None, interfaces: Sequence[str] = (),
                 secure: bool = False, store: SecurityStore | None = None,
                 certificate: DeviceCertificate | None = None,
                 lean_get: bool = True, lean_compiled: bool = True) -> None:
        self.registry = registry
        self.gateway_name = gateway_name
        self.bind_host = bind_host
        self.max_payload = max_payload
        self.interfaces = tuple(interfaces)
        #: plain GETs of the (unsecured) virtual devices take the lean path (``ocf.lean_get``).
        self.lean_get = lean_get
        #: ... and the compiled path answers their repeats, where it is built
        #: (``ocf.lean_compiled``, ``bridge.ocf.lean_compiled``).
        #: (the library is loaded, and the request window moved into it, with the first
        #: virtual device: a gateway without any never loads it.)
        self.lean_compiled = lean_get and lean_compiled and built()
        self.virtuals: dict[str, _Virtual] = {}
        #: how many virtual devices served here have each ``di`` (asked for every device
        #: discovered; two Things may share one, a copy of a copy of a device).
        self._dis: Counter[str] = Counter()
        di, piid, pi = gateway_identity(gateway_name)
        self.bridge = ServedDevice(
            di=di, device_types=("oic.wk.d", BRIDGE),
            device={"n": gateway_name, "di": di, "piid": piid, "icv": ICV, "dmv": DMV},
            platform={"pi": pi, "mnmn": "ocfaj"})
        self.bridge.resources["/bridge/vodlist"] = ServedResource(
            "/bridge/vodlist", ("oic.r.vodlist",), ("oic.if.r", "oic.if.baseline"), True,
            self._vodlist)
        #: the security of the bridge and virtual devices; None: they are not secured.
        self.security = (VirtualSecurity(registry, store, bridge_di=di,
                                         gateway_name=gateway_name, certificate=certificate)
                         if secure else None)
        if self.security is None:
            self.listener = CoapEndpoint(self.bridge, bind_host=bind_host, port=server_port,
                                         multicast=multicast, listed=self._listed,
                                         max_payload=max_payload, limits=limits,
                                         interfaces=self.interfaces)
        else:
            self.listener = SecuredEndpoint(self.bridge, self.security.bridge,
                                            bind_host=bind_host, port=server_port,
                                            multicast=multicast, listed=self._listed,
                                            max_payload=max_payload, limits=limits,
                                            interfaces=self.interfaces)
        # One set of caps for the listener and every virtual device (none given: no caps).
        self.limits = self.listener.limits
        self._queue: asyncio.Queue[tuple[str, Thing]] = asyncio.Queue()
        #: the queued changes, applied several Things at a time (each Thing's in order).
        self._jobs = KeyedJobs(PUBLISH_AT_ONCE)
        self._worker: asyncio.Task[None] | None = None
        self._tidy: asyncio.Task[None] | None = None
        self.memory = MemoryRelease()
        self._unsubscribe: list[object] = []

    def owns(self, di: str) -> bool:
        """True for the ``di`` of a device served here, also one an owner gave it."""
        if self.security is not None and di in self.security.uuids():
            return True
        return di == self.bridge.di or di in self._dis

    async def start(self) -> None:
        if self._worker is not None:
            return
        await self.listener.start()
        if self.interfaces:
            log.info("virtual OCF devices answer only on %s (and loopback)%s",
                     ", ".join(self.interfaces),
                     f", at {self.bind_host}" if self.bind_host else "")
        self._unsubscribe.append(self.registry.bus.subscribe("ocf-virtual", self._on_event))
        self._worker = asyncio.ensure_future(self._work())
        self._tidy = asyncio.ensure_future(self._tidy_up())
        for thing in self.registry:
            self._queue.put_nowait(("sync", thing))

    async def shutdown(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()  # type: ignore[operator]
        self._unsubscribe.clear()
        tasks = [t for t in (self._worker, self._tidy) if t is not None]
        self._worker = self._tidy = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._jobs.wait()  # the changes under way end; no new one starts
        for thing_id in list(self.virtuals):
            await self._withdraw(thing_id)
        await self.listener.shutdown()

    async def wait_idle(self) -> None:
        """Until every queued Thing change has been applied (for tests and start-up)."""
        await self._queue.join()

    async def _tidy_up(self) -> None:
        while True:
            await asyncio.sleep(TIDY_EVERY)
            self.memory.after(self.limits.held)

    def clients(self) -> dict[str, int]:
        """What unauthenticated clients make the gateway keep now, the trims so far and
        whether one is still to come (the ``clients`` of the OCF side's status, docs/ocf.md,
        "Limits per client")."""
        requests = self.limits.requests.total if self.limits.requests is not None else 0
        return {"observers": self.limits.observers.total, "uploads": self.limits.uploads.total,
                "requests": requests, "memory_trims": self.memory.trims,
                "memory_trim_pending": self.memory.pending}

    def _listed(self) -> list[tuple[ServedDevice, int]]:
        return [(v.layout.device, v.endpoint.port) for v in self.virtuals.values()]

    def _vodlist(self) -> Mapping[str, Value]:
        return {"vods": [{"n": v.thing.info.name, "di": v.layout.device.di,
                          "econame": _ECONAMES.get(v.thing.origin, str(v.thing.origin))}
                         for v in self.virtuals.values()]}

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            # The most frequent event (one per notification) first.
            virtual = self.virtuals.get(event.thing.id)
            if virtual is not None:
                for href in virtual.layout.hrefs.get(event.capability, ()):
                    virtual.endpoint.notify(href)
        elif isinstance(event, (ThingAdded, ThingUpdated)):
            virtual = self.virtuals.get(event.thing.id)
            if virtual is not None:
                # Its state is read live from the registry until the worker rebuilds it.
                virtual.endpoint.forget_answers()
            self._queue.put_nowait(("sync", event.thing))
        elif isinstance(event, ThingRemoved):
            self._queue.put_nowait(("remove", event.thing))
        elif isinstance(event, AvailabilityChanged):
            virtual = self.virtuals.get(event.thing.id)
            if virtual is not None:
                virtual.layout.device.available = event.available
                virtual.endpoint.notify_all()
        elif isinstance(event, SignalEmitted):
            self._signal(event)

    def _signal(self, event: SignalEmitted) -> None:
        virtual = self.virtuals.get(event.thing.id)
        if virtual is None:
            return
        href = virtual.layout.signals.get((event.capability, event.signal))
        if href is not None:
            virtual.layout.last[href] = signal_values(event.args)
            virtual.endpoint.notify(href)

    async def _work(self) -> None:
        while True:
            action, thing = await self._queue.get()
            await self._jobs.add(thing.id, functools.partial(self._apply, action, thing))

    async def _apply(self, action: str, thing: Thing) -> None:
        try:
            if action == "remove":
                await self._withdraw(thing.id)
            elif self.registry.exposable(thing, Side.OCF):
                await self._publish(thing)
            else:
                await self._withdraw(thing.id)
        except Exception:
            log.exception("virtual OCF device for %s (%s) failed", thing.info.name, thing.id)
        finally:
            self._queue.task_done()

    async def _publish(self, thing: Thing) -> None:
        old = self.virtuals.get(thing.id)
        thing_id = thing.id
        origin = _Origin(self.registry, thing_id)
        layout = build_layout(thing, origin.state_of, origin.command, origin.fresh,
                              origin.reads_through, origin.fresh_until)
        if old is not None:
            # Same endpoint and port: clients keep working; observers see the new state.
            self._dis -= Counter([old.thing.identity.di])
            self._dis[thing.identity.di] += 1
            old.thing, old.layout = thing, layout
            old.endpoint.own = layout.device
            old.endpoint.notify_all()
            return
        if self.security is None:
            if self.lean_compiled:
                # One window for both paths, its records where the compiled path counts too;
                # without the library (it failed to load: logged), the Python lean path.
                self.lean_compiled = compiled_window(self.limits)
            endpoint = CoapEndpoint(layout.device, bind_host=self.bind_host,
                                    max_payload=self.max_payload, limits=self.limits,
                                    interfaces=self.interfaces, lean_get=self.lean_get,
                                    lean_compiled=self.lean_compiled)
        else:
            endpoint = SecuredEndpoint(layout.device, self.security.device_for(thing),
                                       bind_host=self.bind_host, max_payload=self.max_payload,
                                       limits=self.limits, interfaces=self.interfaces)
        await endpoint.start()
        self.virtuals[thing_id] = _Virtual(thing, layout, endpoint)
        self._dis[thing.identity.di] += 1
        log.info("%s (%s): virtual OCF device di %s on port %d", thing.info.name, thing_id,
                 thing.identity.di, endpoint.port)
        self.listener.notify("/bridge/vodlist")

    async def _withdraw(self, thing_id: str) -> None:
        virtual = self.virtuals.pop(thing_id, None)
        if virtual is not None:
            self._dis -= Counter([virtual.thing.identity.di])
            await virtual.endpoint.shutdown()
            log.info("%s (%s): virtual OCF device withdrawn", virtual.thing.info.name, thing_id)
            self.listener.notify("/bridge/vodlist")


def multicast_groups(interfaces: list[str], ipv4: bool, ipv6_groups: list[str]) -> list[
        tuple[str, str]]:
    groups = ([wire.MCAST_V4] if ipv4 else []) + ipv6_groups
    return [(group, name) for name in interfaces for group in groups]
