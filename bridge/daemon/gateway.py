"""The gateway: catalogue, registry, the protocol sides and the MQTT uplink, run together.

Layer: ``bridge.daemon`` (the one place that knows every part). It builds the parts from the
configuration, starts them under the :class:`~bridge.daemon.supervisor.Supervisor`, persists
the identity book whenever it changes, lets virtual devices of other bridges cross only after
their grace period, forgets devices gone longer than ``bridge.forget_after``, and pings
systemd's watchdog. It does no protocol work itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Iterator
from typing import Any

from bridge.core.errors import (
    CommandError,
    ConfigError,
    DeviceUnavailable,
    InvalidName,
    UnknownThing,
)
from bridge.core.events import (
    AvailabilityChanged,
    Event,
    EventBus,
    StateChanged,
    ThingAdded,
    ThingRemoved,
    ThingUpdated,
)
from bridge.core.forgetting import GoneDevices
from bridge.core.identity import IdentityBook
from bridge.core.policy import Policy, PolicyRule
from bridge.core.policy_config import PolicyConfig
from bridge.core.registry import Registry
from bridge.core.thing import Capability, Side, Thing
from bridge.daemon.config import Config
from bridge.daemon.logging_setup import set_own_level
from bridge.daemon.policy_store import (
    POLICY_FILE,
    load_policy,
    parse_policy,
    policy_document,
    save_policy,
)
from bridge.daemon.sdnotify import SystemdNotifier
from bridge.daemon.state import StateStore
from bridge.daemon.supervisor import Part, Supervisor
from bridge.model import load_catalogue
from bridge.model.types import Catalogue

log = logging.getLogger("ocfaj.gateway")

#: File descriptors a bridged device costs (docs/design.md budget: 3 for a virtual OCF
#: device, 1 for a virtual AllJoyn producer).
FDS_PER_DEVICE = 4
#: Seconds between two looks at whether the identity book changed and needs saving.
PERSIST_EVERY = 0.5
#: Descriptors kept for everything else (sockets, state files, the outbox, logs).
FDS_RESERVED = 64


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def policy_from_config(config: Config) -> Policy:
    return policy_of(config.policy)


def policy_of(settings: PolicyConfig) -> Policy:
    rules = tuple(
        PolicyRule(action=rule.action, side=rule.side, id=rule.id, name=rule.name,
                   resource_type=rule.resource_type, interface=rule.interface)
        for rule in settings.rules
    )
    return Policy(rules, default=settings.default)


class Gateway:
    """One running gateway; see the module docstring."""

    def __init__(self, config: Config, catalogue: Catalogue | None = None) -> None:
        self.config = config
        self.catalogue = catalogue
        self.bus = EventBus()
        self.registry = Registry(self.bus, policy_from_config(config))
        #: the policy in force: ``[policy]``, or the one stored by :meth:`set_policy`.
        self.policy = config.policy
        self.policy_stored = False
        self._discovering = asyncio.Lock()
        self.store = StateStore(config.gateway.state_dir)
        self.book = IdentityBook()
        self.gone: GoneDevices | None = None
        self.parts: list[Part] = []
        self.supervisor: Supervisor | None = None
        self.systemd = SystemdNotifier()
        self.started_at = 0.0
        self.max_devices = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._grace: dict[str, asyncio.TimerHandle] = {}
        #: wall-clock time the gateway last heard of each device (found, changed, returned).
        self._last_seen: dict[str, float] = {}
        self._stopped = False
        self._save_failing = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self.started_at = time.monotonic()
        limit = raise_fd_limit()
        self.max_devices = max(0, (limit - FDS_RESERVED) // FDS_PER_DEVICE)
        log.info("file descriptor limit %d: room for about %d bridged devices", limit,
                 self.max_devices)
        self.store.prepare()
        stored = load_policy(self.store.directory)
        if stored is not None:
            self.policy, self.policy_stored = stored, True
            self.registry.policy = policy_of(stored)
        self.book = self.store.load_identities()
        if self.catalogue is None:
            self.catalogue = load_catalogue(self.config.gateway.models_dir)
        log.info("model catalogue: %d capabilities, %d device types",
                 len(self.catalogue.capabilities), len(self.catalogue.device_types))
        self.bus.subscribe("gateway", self._on_event)
        self.gone = GoneDevices(self.registry, self.book, self.config.bridge.forget_after,
                                settle=self.settle_time())
        self.gone.start()
        self.parts = self._build_parts(self.catalogue)
        self.supervisor = Supervisor(self.parts)
        await self.supervisor.start()
        self._tasks.append(asyncio.create_task(self._persist_loop(), name="persist"))
        if self.systemd.watchdog_interval:
            self._tasks.append(asyncio.create_task(self._watchdog_loop(), name="watchdog"))
        self.systemd.ready(self.status_line())
        log.info("gateway %s ready in %.2f s", self.config.gateway.name,
                 time.monotonic() - self.started_at)

    def settle_time(self) -> float:
        """Seconds after the start before a device known only from the identity book may be
        forgotten: as long as the origin sides take to find a device that is there (OCF: as
        many discovery rounds as declare a device gone, and one more; AllJoyn: the start-up
        scan of one bus name and one call)."""
        cfg = self.config
        times = [0.0]
        if cfg.ocf.enabled:
            times.append(cfg.ocf.discovery_interval * (cfg.ocf.missed_rounds + 1))
        if cfg.alljoyn.enabled:
            times.append(cfg.alljoyn.scan_timeout + cfg.alljoyn.call_timeout)
        return max(times)

    def _build_parts(self, catalogue: Catalogue) -> list[Part]:
        cfg = self.config
        name = cfg.gateway.name
        parts: list[Part] = []
        if cfg.ocf.enabled:
            from bridge.daemon.ocf_credentials import CredentialWatch
            from bridge.daemon.ocf_security_store import SecurityFiles
            from bridge.ocf.side import OcfSide

            keys = CredentialWatch(cfg.gateway.state_dir).load()
            parts.append(_Named("ocf", OcfSide(
                cfg.ocf, self.registry, catalogue, self.book, name, keys=keys,
                security_store=SecurityFiles(cfg.gateway.state_dir))))
        if cfg.alljoyn.enabled:
            from bridge.alljoyn.control import ControlService
            from bridge.alljoyn.side import AllJoynSide

            parts.append(_Named("alljoyn", AllJoynSide(cfg.alljoyn, self.registry, catalogue,
                                                       self.book, name)))
            from bridge.daemon.onboarding_action import ControlOnboarding

            parts.append(_Named("control", ControlService(
                cfg.gateway.control_bus or cfg.alljoyn.bus, self.describe_devices,
                self.describe_gateway,
                ControlOnboarding(cfg) if cfg.ocf.enabled else None)))
        web = web_server(self) if cfg.web.enabled else None
        if web is not None:
            parts.append(_Named("web", web))
        if cfg.mqtt.enabled:
            from bridge.discovery.broker import find_mqtt_broker
            from bridge.mqtt.side import MqttSide

            parts.append(_Named("mqtt", MqttSide(
                cfg.mqtt, self.registry, catalogue, self.book, name,
                state_dir=cfg.gateway.state_dir, broker_finder=find_mqtt_broker,
                configuration_url=lambda: self._page_link(web))))
        return parts

    def _page_link(self, web: Any) -> str:
        """The web page's address for Home Assistant (the page starts before MQTT, so its
        real port is known); "" without a page or one a person elsewhere could reach."""
        web_cfg = self.config.web
        link = web_cfg.link(web.url if web is not None else "")
        if not link and web is not None and web.url:
            log.info("Home Assistant gets no link to the web page: it listens on %s, no "
                     "address a person can open; set web.public_url", web_cfg.bind)
        return link

    async def shutdown(self) -> None:
        """Withdraw virtual devices, publish MQTT offline, save state (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.systemd.stopping()
        for handle in self._grace.values():
            handle.cancel()
        if self.gone is not None:
            self.gone.shutdown()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.supervisor is not None:
            await self.supervisor.shutdown()
        self._save()
        log.info("gateway %s stopped", self.config.gateway.name)

    # -- events --------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            # The most frequent event (one per notification) first, alone: a union of
            # classes in isinstance is built again at every call.
            self._last_seen[event.thing.id] = time.time()
            return
        if isinstance(event, (ThingAdded, ThingUpdated)) or (
                isinstance(event, AvailabilityChanged) and event.available):
            self._last_seen[event.thing.id] = time.time()
        if isinstance(event, (ThingAdded, ThingUpdated)):
            thing = event.thing
            if thing.virtual and not thing.grace_expired and thing.id not in self._grace:
                grace = self.config.bridge.virtual_grace_period
                log.info("%s (%s) was created by another bridge: bridged only if no native "
                         "device with its identity shows up within %.0f s", thing.info.name,
                         thing.id, grace)
                self._grace[thing.id] = asyncio.get_running_loop().call_later(
                    grace, self._grace_over, thing.id)
            if isinstance(event, ThingAdded):
                self._log_bridging(thing)
        elif isinstance(event, ThingRemoved):
            self._last_seen.pop(event.thing.id, None)
            handle = self._grace.pop(event.thing.id, None)
            if handle is not None:
                handle.cancel()
        elif isinstance(event, AvailabilityChanged) and not event.available:
            if event.thing.not_bridgeable:
                log.info("%s (%s) left (it was not bridged)", event.thing.info.name,
                         event.thing.id)
            else:
                log.info("%s (%s) left; its virtual copies are withdrawn until it returns",
                         event.thing.info.name, event.thing.id)

    def _grace_over(self, thing_id: str) -> None:
        self._grace.pop(thing_id, None)
        thing = self.registry.get(thing_id)
        if thing is None:
            return
        thing.grace_expired = True
        self.bus.publish(ThingUpdated(thing))

    def _log_bridging(self, thing: Thing) -> None:
        if thing.not_bridgeable:
            # The side that found it said why at the level it deserves (a secured device is
            # worth a warning, a client application is not).
            log.info("%s (%s) is not bridged: %s", thing.info.name, thing.id,
                     thing.not_bridgeable)
            return
        if thing.virtual:
            return
        sides = [s.value for s in (Side.OCF, Side.ALLJOYN, Side.MQTT)
                 if self._side_enabled(s) and self.registry.exposable(thing, s)]
        if sides:
            log.info("bridging %s (%s) to %s", thing.info.name, thing.id, ", ".join(sides))
        else:
            log.info("%s (%s) is not bridged anywhere (policy or configuration)",
                     thing.info.name, thing.id)
        if len(self.registry) > self.max_devices > 0:
            log.error("%d devices exceed the file descriptor budget of about %d devices: "
                      "raise LimitNOFILE", len(self.registry), self.max_devices)

    def _side_enabled(self, side: Side) -> bool:
        cfg = self.config
        return {Side.OCF: cfg.ocf.enabled and cfg.bridge.alljoyn_to_ocf,
                Side.ALLJOYN: cfg.alljoyn.enabled and cfg.bridge.ocf_to_alljoyn,
                Side.MQTT: cfg.mqtt.enabled}.get(side, False)

    # -- background ----------------------------------------------------------------------------

    async def _persist_loop(self) -> None:
        pause = PERSIST_EVERY
        while True:
            await asyncio.sleep(pause)
            if self.book.dirty:
                began = time.monotonic()
                self._save()
                # A save encodes the whole book while the loop waits: with thousands of
                # devices arriving at once, the next one waits ten times as long as this one
                # took, so saving never takes more than a tenth of the gateway's time.
                pause = max(PERSIST_EVERY, 10 * (time.monotonic() - began))

    def _save(self) -> None:
        if not self.book.dirty:
            return
        try:
            self.store.save_identities(self.book)
        except OSError as err:
            # Once per episode: a full disk would otherwise log twice a second.
            if not self._save_failing:
                log.error("cannot save identities in %s: %s (retrying quietly until it works)",
                          self.store.directory, err)
            self._save_failing = True
            self.book.dirty = True
            return
        if self._save_failing:
            log.info("identities saved in %s again", self.store.directory)
            self._save_failing = False

    async def _watchdog_loop(self) -> None:
        interval = self.systemd.watchdog_interval or 10.0
        while True:
            self.systemd.watchdog()
            await asyncio.sleep(interval)

    # -- introspection (control interface, logs) -----------------------------------------------

    def status_line(self) -> str:
        things = list(self.registry)
        up = sum(1 for t in things if t.available)
        return f"{len(things)} devices ({up} available)"

    def describe_gateway(self) -> dict[str, Any]:
        sup = self.supervisor
        return {
            "name": self.config.gateway.name,
            "uptime": round(time.monotonic() - self.started_at, 1),
            "devices": len(self.registry),
            "parts": {p.name: {"running": sup.running.get(p.name, False) if sup else False,
                               "restarts": sup.restarts.get(p.name, 0) if sup else 0,
                               **_part_status(p)}
                      for p in self.parts},
        }

    def describe_devices(self) -> list[dict[str, Any]]:
        """Every device, as ``ocfaj devices`` and the web page show it (one source)."""
        return list(self.iter_devices())

    def iter_devices(self) -> Iterator[dict[str, Any]]:
        """The rows of :meth:`describe_devices` one at a time (the page streams them)."""
        where = self._addresses()
        yield from self._bridge_device_rows()
        for thing in sorted(self.registry, key=lambda t: (t.origin, t.info.name)):
            yield self._describe(thing, where)

    def describe_device(self, thing_id: str) -> dict[str, Any] | None:
        thing = self.registry.get(thing_id)
        return None if thing is None else self._describe(thing, self._addresses())

    def _addresses(self) -> tuple[dict[str, str], dict[str, str]]:
        """Thing id -> AllJoyn bus name, and Thing id -> MQTT topic, from the sides."""
        alljoyn, mqtt = self._inner("alljoyn"), self._inner("mqtt")
        return (alljoyn.bus_names() if alljoyn is not None else {},
                mqtt.topics_of_devices() if mqtt is not None else {})

    def _inner(self, name: str) -> Any:
        """The side object of part ``name``, or None when it is not configured."""
        part = next((p for p in self.parts if p.name == name), None)
        return getattr(part, "inner", None)

    def _describe(self, thing: Thing,
                  where: tuple[dict[str, str], dict[str, str]]) -> dict[str, Any]:
        ident = thing.identity
        return {
            "id": thing.id,
            "origin": thing.origin.value,
            "name": thing.info.name,
            "device_type": thing.device_type,
            "available": thing.available,
            "last_seen": round(self._last_seen.get(thing.id, 0.0), 1),
            "virtual": thing.virtual,
            "not_bridgeable": thing.not_bridgeable,
            "di": ident.di, "piid": ident.piid, "device_id": ident.device_id,
            "app_id": ident.app_id.hex(),
            "alljoyn_bus_name": where[0].get(thing.id, ""),
            "mqtt_topic": where[1].get(thing.id, ""),
            "info": {"manufacturer": thing.info.manufacturer, "model": thing.info.model,
                     "sw_version": thing.info.sw_version,
                     "device_types": list(thing.info.device_types)},
            "bridged_to": [s.value for s in (Side.OCF, Side.ALLJOYN, Side.MQTT)
                           if self._side_enabled(s) and self.registry.exposable(thing, s)],
            "capabilities": {key: describe_capability(cap)
                             for key, cap in thing.capabilities.items()},
            "diagnostics": dict(thing.diagnostics),
            "ocf_security": thing.security.get("ocf"),
        }

    def _bridge_device_rows(self) -> list[dict[str, Any]]:
        """The gateway's own secured OCF bridge device, which an onboarding tool owns first
        (only with ``[ocf] secure_virtual_devices``)."""
        ocf = next((p for p in self.parts if p.name == "ocf"), None)
        facts = _part_status(ocf).get("bridge_device") if ocf is not None else None
        if not facts:
            return []
        return [{"id": "ocf-bridge", "origin": "gateway", "name": self.config.gateway.name,
                 "device_type": "oic.d.bridge", "available": True, "virtual": False,
                 "not_bridgeable": "", "di": facts.get("deviceuuid", ""), "bridged_to": [],
                 "capabilities": {}, "diagnostics": {}, "ocf_security": facts}]

    # -- actions of the gateway's own clients (the web page) ------------------------------------

    def forget(self, thing_id: str) -> None:
        """Forget a gone device now, as ``bridge.forget_after`` would later."""
        thing = self.registry.get(thing_id)
        if thing is None:
            raise UnknownThing(f"no device {thing_id!r}", thing=thing_id)
        if thing.available:
            raise DeviceUnavailable(f"{thing.info.name} is present: only a gone device can "
                                    "be forgotten", thing=thing_id)
        log.info("forgetting %s device %s (%s) on request", thing.origin, thing.info.name,
                 thing.id)
        self.registry.remove(thing_id)
        self.book.forget(thing_id)

    def set_log_level(self, level: str) -> None:
        set_own_level(level)

    def rename(self, thing_id: str, new: str) -> dict[str, Any]:
        """Give a device the friendly name ``new``: the MQTT side's rename, the one behind
        ``bridge/request/rename``, with its rules and refusals."""
        from bridge.mqtt.names import RenameRefused

        if self.registry.get(thing_id) is None:
            raise UnknownThing(f"no device {thing_id!r}", thing=thing_id)
        mqtt = self._inner("mqtt")
        if mqtt is None:
            raise CommandError("a friendly name is the name of a device's MQTT topics, and "
                               "the MQTT side is not enabled", thing=thing_id)
        try:
            old = mqtt.rename(thing_id, new)
        except RenameRefused as err:
            raise InvalidName(str(err), thing=thing_id) from err
        return {"id": thing_id, "from": old, "to": new}

    async def discover(self) -> dict[str, Any]:
        """One OCF discovery round and one AllJoyn scan of the bus now, together (a request
        made while one runs waits for it and starts the next)."""
        sup = self.supervisor
        jobs: dict[str, Any] = {}
        ocf, alljoyn = self._inner("ocf"), self._inner("alljoyn")
        if ocf is not None and sup is not None and sup.running.get("ocf"):
            jobs["ocf"] = ocf.discover_once
        if alljoyn is not None and alljoyn.connected:
            jobs["alljoyn"] = alljoyn.consumer.scan
        if not jobs:
            raise CommandError("no origin side is running (OCF, AllJoyn): there is nothing "
                               "to discover with")
        async with self._discovering:
            before = len(self.registry)
            log.info("discovery requested: %s", ", ".join(jobs))
            results = await asyncio.gather(*(job() for job in jobs.values()),
                                           return_exceptions=True)
        sides: dict[str, str] = {}
        for name, result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("requested %s discovery failed: %s", name, result)
                sides[name] = f"failed: {result}"
            else:
                sides[name] = "done"
        return {"sides": sides, "devices": len(self.registry),
                "new": max(0, len(self.registry) - before)}

    def describe_policy(self) -> dict[str, Any]:
        """The access policy in force, and whether it is the stored one."""
        path = self.store.directory / POLICY_FILE
        return {**policy_document(self.policy), "stored": self.policy_stored,
                "file": str(path) if self.policy_stored else ""}

    def set_policy(self, document: object) -> dict[str, Any]:
        """Check ``document`` as ``[policy]`` is checked, put it in force at once (devices
        it newly denies are withdrawn, devices it newly allows cross) and store it; raises
        :class:`ConfigError`."""
        settings = parse_policy(document)
        before = {thing.id: self._crossing(thing) for thing in self.registry}
        self.registry.policy = policy_of(settings)
        self.policy = settings
        persisted = True
        try:
            path = save_policy(self.store.directory, settings)
            self.policy_stored = True
        except OSError as err:
            persisted = False
            log.error("the new access policy is in force but cannot be stored in %s (%s): "
                      "the next start uses the previous one", self.store.directory, err)
        else:
            log.warning("access policy changed (default %s, %d rules), stored in %s",
                        settings.default, len(settings.rules), path)
        changed = 0
        for thing in self.registry:
            if before.get(thing.id) != self._crossing(thing):
                changed += 1
                self.bus.publish(ThingUpdated(thing))
        return {**self.describe_policy(), "persisted": persisted, "changed": changed}

    def _crossing(self, thing: Thing) -> tuple[tuple[bool, tuple[str, ...]], ...]:
        """Where ``thing`` crosses and with which capabilities, under the policy in force."""
        return tuple(
            (self.registry.exposable(thing, side),
             tuple(key for key, cap in thing.capabilities.items()
                   if self.registry.policy.allows_capability(thing, cap, side)))
            for side in (Side.OCF, Side.ALLJOYN, Side.MQTT))


def describe_capability(cap: Capability) -> dict[str, Any]:
    """A capability's state, its mapping and, for a model one, its properties as the device
    has them (what a client needs to offer the right control)."""
    row: dict[str, Any] = {"model": cap.model_id, "state": cap.state}
    if cap.generic is not None:
        row["interface"] = cap.generic.interface
        row["resource_types"] = list(cap.generic.resource_types)
        row["properties"] = [{"name": p.name, "signature": p.signature,
                              "writable": p.access == "rw"} for p in cap.generic.properties]
    else:
        row["properties"] = [{"name": p.name, "type": p.type, "writable": p.writable,
                              "unit": p.unit, "minimum": p.minimum, "maximum": p.maximum,
                              "step": p.step, "values": list(p.values)} for p in cap.specs]
    meta = {k: v for k, v in cap.origin_meta.items() if isinstance(v, str | int | float)}
    if meta:
        row["origin"] = meta
    return row


def web_server(gateway: Gateway) -> Any:
    """The web page's server; the extra ``web`` (h11) is imported only here."""
    try:
        from bridge.web.server import WebServer
    except ImportError as err:
        raise ConfigError("web.enabled", f"the web page needs the extra 'web' ({err.name} "
                          "is not installed): pip install 'ocfaj[web]', or set "
                          "web.enabled = false") from err
    return WebServer(gateway.config.web, gateway.registry, gateway)

def _part_status(part: Part) -> dict[str, Any]:
    inner = getattr(part, "inner", None)
    status = getattr(inner, "status", None)
    if callable(status):
        try:
            result = status()
            return dict(result) if isinstance(result, dict) else {}
        except Exception:
            return {}
    return {}


class _Named:
    """Gives a side facade the ``name`` the supervisor logs, and forwards its lifecycle."""

    def __init__(self, name: str, inner: Any) -> None:
        self.name = name
        self.inner = inner

    async def start(self) -> None:
        await self.inner.start()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def wait(self) -> None:
        waiter = getattr(self.inner, "wait", None)
        if waiter is None:
            await asyncio.Event().wait()
        else:
            await waiter()
