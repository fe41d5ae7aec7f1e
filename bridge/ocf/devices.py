"""The OCF devices the gateway found: Things built from them, observed, timed out, returning.

Layer: ``bridge.ocf`` I/O (through :class:`bridge.ocf.coap_client.OcfClient`). Each discovery
round hands :meth:`OcfDevices.update` the links it found, one sighting per ``di`` with every
endpoint it answered on. A device is read in full (``/oic/d``, ``/oic/p``, every resource) and
observed when it is new, when it returns after being unavailable, when its listing changed (a
resource added, removed or retyped) or when the endpoint in use is no longer offered; the
endpoint is chosen by a stable rule (``links.select_endpoint``), so replies arriving in another
order (IPv4 before IPv6) change nothing. A resource the gateway will observe is read through
its observation (``bridge.ocf.resource_reads``). Notifications that arrive before the Thing is
stored are held and applied after it; observations that end meanwhile are handled once it is.
Nothing is declared gone on one piece of evidence: a device that missed ``missed_rounds``
rounds, or whose observation failed, is first asked for ``/oic/d`` by unicast; only a device
that does not answer is reported unavailable (a device that answers gets its failed
observations registered again). Identity (``piid`` first, else ``di``) goes through the
``IdentityBook``, so a device that returns with a fresh ``di`` is the same Thing. A secured
device (its resources reachable only over ``coaps``) is bridged over coaps when the gateway
holds a key for it (``owned(di)``: the device owns it, its ``di`` being its doxm
``deviceuuid``), through its coaps endpoint (``select_endpoint(..., secure=True)``); without a
key it is listed as not bridgeable, identified by a plaintext ``/oic/d`` and ``/oic/p`` where
it offers them (OCF keeps those readable in clear) and never asked anything else in plaintext.
So are devices with no resource to bridge (OCF client applications). Another gateway's own
bridge device (``oic.d.bridge``) is not a device to bridge: the devices it serves are found on
their own, and its vodlist would only mirror them back. An endpoint whose ``/oic/d`` names
another ``di`` than the listing is not that device's (two servers on one port): it is reported,
and nothing is recorded from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bridge.core.errors import DeviceError, DeviceTimeout
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Capability, DeviceInfo, Side, Thing
from bridge.model.types import Catalogue, Value
from bridge.ocf.coap_client import Observation, OcfClient
from bridge.ocf.info import BRIDGE, device_info, parse_device, platform_id
from bridge.ocf.links import Endpoint, Link, listing_key, select_endpoint
from bridge.ocf.mapping import (
    build_capabilities,
    is_core_link,
    model_state,
    observed_hrefs,
    unmapped_types,
)
from bridge.ocf.resource_reads import read_by_get, read_through

log = logging.getLogger("ocfaj.ocf.devices")
SECURE_ONLY = ("secured (coaps only) and not owned by this gateway: take ownership with "
               "'ocfaj onboard'")
NOTHING_TO_BRIDGE = "no resource to bridge (an OCF client, or only core resources)"
#: Devices read in full at the same time (each read waits for its answers, so more at once
#: bring a thousand up sooner). A round that finds hundreds of devices would else
#: start every read at once: each request's timeout then runs while the others are handled,
#: and aiocoap's message layer looks through every open exchange for each message it sends.
READS_AT_ONCE = 64
#: Seconds before a read that failed is tried again (doubled each time), and how often it is,
#: before the device waits for the next discovery round.
RETRY_AFTER = 1.0
RETRIES = 3


@dataclass
class Sighting:
    """What one discovery round saw of one device."""

    links: list[Link]
    source: Endpoint
    interface: str = ""


@dataclass(slots=True)
class KnownDevice:
    di: str
    thing_id: str = ""
    endpoint: Endpoint | None = None
    links: list[Link] = field(default_factory=list)
    missed: int = 0
    observations: list[Observation] = field(default_factory=list)
    secure_only: bool = False
    healthy: bool = False
    #: the Thing's ``diagnostics`` (shared dict): full reads, observations started...
    stats: dict[str, Value] = field(default_factory=dict)
    #: hrefs whose observation ended while the device still answered: observed again.
    failed: set[str] = field(default_factory=set)
    #: a liveness check (unicast ``/oic/d``) is running.
    confirming: bool = False
    #: a full read is running: its observations' notifications wait in ``held`` (by href)
    #: and their ends in ``failed`` until the Thing is stored.
    reading: bool = False
    held: dict[str, Any] = field(default_factory=dict)

    @property
    def listing(self) -> tuple[Any, ...]:
        return listing_key(self.links)

    def count(self, name: str) -> int:
        value = self.stats.get(name, 0)
        total = (value if isinstance(value, int) else 0) + 1
        self.stats[name] = total
        return total


class OcfDevices:
    """Turns discovery sightings into Things and keeps them current."""

    def __init__(self, registry: Registry, catalogue: Catalogue, book: IdentityBook,
                 client: OcfClient, *, missed_rounds: int, observe: bool,
                 is_own: Callable[[str], bool],
                 owned: Callable[[str], bool] = lambda _di: False,
                 forget_key: Callable[[str], None] = lambda _di: None) -> None:
        self.registry = registry
        self.catalogue = catalogue
        self.book = book
        self.client = client
        self.missed_rounds = missed_rounds
        self.observe = observe
        self.is_own = is_own
        self.owned = owned
        self.forget_key = forget_key
        self.by_di: dict[str, KnownDevice] = {}
        #: ``di`` of other bridges' bridge devices (never bridged, not read again).
        self.bridges: set[str] = set()
        self._busy: set[str] = set()
        self._checks: set[asyncio.Task[None]] = set()
        self._reads = asyncio.Semaphore(READS_AT_ONCE)

    def device_of(self, thing_id: str) -> KnownDevice | None:
        for device in self.by_di.values():
            if device.thing_id == thing_id and device.endpoint is not None:
                return device
        return None

    async def admit_new(self, sightings: Mapping[str, Sighting]) -> None:
        """Set up the devices of ``sightings`` not known yet, before their round ends (the
        unicast peers' answers, while the multicast round still listens); the round's
        :meth:`update` then sees them as known, or busy."""
        await asyncio.gather(*(self._seen(di, s) for di, s in sightings.items()
                               if di not in self.by_di and not self.is_own(di)
                               and di not in self._busy and di not in self.bridges))

    async def update(self, sightings: Mapping[str, Sighting], *,
                     count_missed: bool = True) -> None:
        """Apply one discovery round (every device that answered, by ``di``); without
        ``count_missed`` the devices missing from it are not counted as having missed it."""
        work = [self._seen(di, s) for di, s in sightings.items()
                if not self.is_own(di) and di not in self._busy and di not in self.bridges]
        await asyncio.gather(*work)
        if not count_missed:
            return
        overdue: list[KnownDevice] = []
        for di, device in list(self.by_di.items()):
            if di in sightings:
                continue
            device.missed += 1
            if device.missed >= self.missed_rounds and device.healthy and not device.confirming:
                overdue.append(device)
        await asyncio.gather(*(self._confirm(d, f"missed {d.missed} discovery rounds")
                               for d in overdue))
        if not self.observe:
            await asyncio.gather(*(self._poll(d) for d in self.by_di.values() if d.healthy))

    async def shutdown(self) -> None:
        for task in list(self._checks):
            task.cancel()
        await asyncio.gather(*self._checks, return_exceptions=True)
        for device in self.by_di.values():
            await self._stop_observing(device)

    async def _seen(self, di: str, sighting: Sighting, attempt: int = 0) -> None:
        device = self.by_di.get(di)
        eps = [ep for link in sighting.links for ep in link.eps] or [sighting.source]
        current = device.endpoint if device is not None and device.healthy else None
        endpoint = None
        if self.owned(di):
            endpoint = select_endpoint(eps, zone=sighting.interface, current=current,
                                       secure=True)
        if endpoint is None:
            endpoint = select_endpoint(eps, zone=sighting.interface, current=current)
        secure_only = (endpoint is None or not endpoint.secure) and needs_coaps(sighting.links)
        if device is None:
            reason = "new device"
        else:
            device.missed = 0
            if secure_only and device.secure_only:
                return
            if (device.healthy and device.endpoint == endpoint
                    and device.listing == listing_key(sighting.links)):
                device.links = sighting.links
                if device.failed and not device.confirming:
                    self._observe_again(device)
                return
            reason = ("returned" if not device.healthy else "endpoint no longer offered"
                      if device.endpoint != endpoint else "listing changed")
        self._busy.add(di)
        try:
            async with self._reads:
                await self._setup(di, sighting.links, endpoint, secure_only, reason)
        except DeviceError as err:
            again = (f"trying again in {RETRY_AFTER * 2 ** attempt:g} s" if attempt < RETRIES
                     else "trying again next round")
            log.warning("OCF device %s at %s: could not read it (%s); %s", di,
                        endpoint.uri if endpoint else "?", err.message, again)
            if attempt < RETRIES:
                task = asyncio.ensure_future(self._read_again(di, sighting, attempt + 1))
                self._checks.add(task)
                task.add_done_callback(self._checks.discard)
        finally:
            self._busy.discard(di)

    async def _read_again(self, di: str, sighting: Sighting, attempt: int) -> None:
        """A read that failed, tried again before the next round (a loaded link or device)."""
        await asyncio.sleep(RETRY_AFTER * 2 ** (attempt - 1))
        if di not in self._busy:
            await self._seen(di, sighting, attempt)

    async def _setup(self, di: str, links: list[Link], endpoint: Endpoint | None,
                     secure_only: bool, reason: str) -> None:
        if secure_only:
            await self._secure_only(di, links, endpoint)
            return
        if endpoint is None:
            log.warning("OCF device %s offers no usable endpoint; ignored", di)
            return
        facts = parse_device(await self.client.get(endpoint, "/oic/d"))
        if facts.di.lower() != di.lower():
            # Another device answers at this endpoint (two servers sharing one port), or this
            # one changed its di since the round listed it: taking the answer would merge this
            # device's record into another's. Asking again before a new listing changes nothing.
            log.warning("OCF device %s at %s: /oic/d there is another device's (di %s): does "
                        "another device share its port? Not read until a round lists it "
                        "there again", di, endpoint.uri, facts.di)
            return
        if not facts.device_types:
            # /oic/d's default interface (oic.if.r) carries no rt: its link in /oic/res does.
            types = next((link.rts for link in links if link.href == "/oic/d"), ())
            facts = replace(facts, device_types=tuple(t for t in types if t != "oic.wk.d"))
        if self.is_own(facts.di):
            return
        if BRIDGE in facts.device_types:
            self.bridges.add(di)
            log.info("OCF device %s (%s) is another bridge (%s): not bridged itself; the "
                     "devices it serves are bridged on their own", facts.name, di, BRIDGE)
            return
        device = self.by_di.get(di) or KnownDevice(di)
        await self._stop_observing(device)
        device.failed.clear()
        device.reading = True
        # /oic/p is asked together with the resources: one round trip fewer per device.
        platform_read = asyncio.ensure_future(self._platform(endpoint))
        try:
            props = await self._read_through(device, endpoint, links)
            platform = await platform_read
            thing_id, identity = self.book.for_ocf_device(di, facts.piid, platform_id(platform))
            info = device_info(facts, platform)
            capabilities = build_capabilities(links, self.catalogue, props)
            for missing in unmapped_types(links):
                log.warning("%s (%s): resource %s has no model and no AllJoyn spelling; "
                            "not bridged", info.name, di, missing)
            device = await self._record(device, thing_id)
            device.thing_id, device.endpoint, device.links = thing_id, endpoint, links
            device.secure_only, device.healthy, device.missed = False, True, 0
            self.by_di[di] = device
            thing = Thing(id=thing_id, origin=Side.OCF, identity=identity, info=info,
                          capabilities=capabilities, available=True, virtual=facts.virtual,
                          not_bridgeable="" if capabilities else NOTHING_TO_BRIDGE)
            thing.friendly_name = self.book.friendly_name(thing_id, info.name)
            stored = self.registry.upsert(thing)
        except BaseException:
            platform_read.cancel()
            device.reading = False
            await self._stop_observing(device)
            raise
        stored.diagnostics.update(device.stats)
        device.stats = stored.diagnostics
        reads = device.count("full_reads")
        device.stats["endpoint"] = endpoint.uri
        log.debug("OCF device %s (%s): full read #%d at %s (%s)", info.name, di, reads,
                  endpoint.uri, reason)
        for _ in device.observations:
            device.count("observations_started")
        self._settled(device)
        if self.observe:
            self._start_observing(device, capabilities)

    async def _platform(self, endpoint: Endpoint) -> Any:
        """``/oic/p`` of the device at ``endpoint``; empty when it has none to give."""
        try:
            return await self.client.get(endpoint, "/oic/p")
        except DeviceError:
            return {}

    async def _read_all(self, endpoint: Endpoint,
                        links: list[Link]) -> dict[str, Mapping[str, Any]]:
        return await read_by_get(self.client, endpoint, _resource_hrefs(links))

    async def _read_through(self, device: KnownDevice, endpoint: Endpoint,
                            links: list[Link]) -> dict[str, Mapping[str, Any]]:
        """Every resource of ``links``, those to observe through their observation's first
        answer (``bridge.ocf.resource_reads``); the observations are the device's."""

        def start(href: str) -> Observation:
            observation = self._begin_observing(device, endpoint, href, read=True)
            device.observations.append(observation)
            return observation

        follow = observed_hrefs(links, self.catalogue) if self.observe else set()
        return await read_through(self.client, endpoint, _resource_hrefs(links), follow,
                                  start)

    def _settled(self, device: KnownDevice) -> None:
        """The Thing of ``device`` is stored: what its observations brought meanwhile applies."""
        device.reading = False
        held, device.held = device.held, {}
        for href, value in held.items():
            self.apply(device.thing_id, href, value)
        if device.failed and not device.confirming:
            self._confirm_later(device, f"observation of {min(device.failed)} failed")

    async def _record(self, device: KnownDevice, thing_id: str) -> KnownDevice:
        """The record ``device`` (of its ``di``); the same device's record under an older
        ``di`` (it restarted, or a secured device got a new uuid when it was owned or reset)
        is merged into it."""
        di = device.di
        if self.registry.get(thing_id) is None:
            # No Thing yet, so no record of it either (both are made together): the scan of
            # every record below would make bringing up n new devices cost n * n.
            return device
        for old in [d for d in self.by_di.values() if d.thing_id == thing_id and d.di != di]:
            await self._stop_observing(old)
            self.by_di.pop(old.di, None)
            device.stats = old.stats
        return device

    async def _secure_only(self, di: str, links: list[Link], plain: Endpoint | None) -> None:
        """A secured device the gateway holds no key for: listed, not bridged. Only its
        ``/oic/d`` and ``/oic/p`` are read, in plaintext, when it offers a plain endpoint."""
        info = DeviceInfo(name=f"OCF device {di[:8]}")
        thing_id, identity = self.book.for_ocf_device(di, "", "")
        if plain is not None:
            try:
                facts = parse_device(await self.client.get(plain, "/oic/d"))
                try:
                    platform: Any = await self.client.get(plain, "/oic/p")
                except DeviceError:
                    platform = {}
                thing_id, identity = self.book.for_ocf_device(di, facts.piid,
                                                              platform_id(platform))
                info = device_info(facts, platform)
            except DeviceError as err:
                log.debug("secured OCF device %s: plaintext /oic/d unanswered (%s)", di,
                          err.message)
        for old in [d for d in self.by_di.values()
                    if d.thing_id == thing_id and d.di != di and self.owned(d.di)]:
            log.warning("OCF device %s (%s) was reset by its user: it is unowned again (uuid "
                        "%s); its credential is dropped and it is no longer bridged",
                        info.name, old.di, di)
            self.forget_key(old.di)
        device = await self._record(self.by_di.get(di) or KnownDevice(di), thing_id)
        await self._stop_observing(device)
        was_secure_only = device.secure_only
        device.thing_id, device.secure_only, device.links = thing_id, True, links
        device.endpoint, device.healthy, device.missed = None, False, 0
        self.by_di[di] = device
        if not was_secure_only:
            log.warning("OCF device %s (%s) is secured: its resources answer over coaps only "
                        "and this gateway holds no key for it; listed as not bridgeable (own "
                        "it with 'ocfaj onboard')", info.name, di)
        thing = Thing(id=thing_id, origin=Side.OCF, identity=identity, info=info,
                      capabilities=build_capabilities(links, self.catalogue, {}),
                      not_bridgeable=SECURE_ONLY)
        thing.friendly_name = self.book.friendly_name(thing_id, info.name)
        self.registry.upsert(thing)

    def _start_observing(self, device: KnownDevice, caps: Mapping[str, Capability]) -> None:
        """Observe what the full read did not observe already (``_read_through``)."""
        observed = {str(cap.origin_meta["href"]) for cap in caps.values()
                    if cap.origin_meta.get("observable")}
        observed -= {o.href for o in device.observations}
        for href in sorted(observed):
            self._observe(device, href)

    def _observe(self, device: KnownDevice, href: str) -> None:
        assert device.endpoint is not None
        device.count("observations_started")
        device.observations.append(self._begin_observing(device, device.endpoint, href))

    def _begin_observing(self, device: KnownDevice, endpoint: Endpoint, href: str, *,
                         read: bool = False) -> Observation:
        watch = _Watch(self, device, href)
        return self.client.observe(endpoint, href, watch.value, watch.ended, read=read)

    def _observe_again(self, device: KnownDevice) -> None:
        if device.reading:
            return  # the full read that runs observes every resource afresh
        hrefs, device.failed = sorted(device.failed), set()
        device.observations = [o for o in device.observations if o.href not in hrefs]
        for href in hrefs:
            log.debug("OCF device %s: observing %s again", device.thing_id, href)
            self._observe(device, href)

    def _observed(self, device: KnownDevice, href: str, value: Any) -> None:
        if device.reading:
            device.held[href] = value
        else:
            self.apply(device.thing_id, href, value)

    async def _stop_observing(self, device: KnownDevice) -> None:
        observations, device.observations = device.observations, []
        await asyncio.gather(*(self.client.deregister(o) for o in observations))

    def _observation_failed(self, device: KnownDevice, href: str, reason: str) -> None:
        if device.reading:
            device.failed.add(href)  # handled once the Thing is stored (``_settled``)
            return
        if not device.healthy:
            return
        first = not device.failed
        device.failed.add(href)
        if first and not device.confirming:
            self._confirm_later(device, f"observation of {href} failed: {reason}")

    def _confirm_later(self, device: KnownDevice, why: str) -> None:
        task = asyncio.ensure_future(self._confirm(device, why))
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _confirm(self, device: KnownDevice, why: str) -> None:
        """``why`` says the device may be gone: ask it by unicast before saying so."""
        device.confirming = True
        try:
            alive = await self._answers(device)
        finally:
            device.confirming = False
        if not device.healthy:
            return
        if alive:
            device.missed = 0
            device.count("liveness_checks_passed")
            log.debug("OCF device %s: %s, but it answers by unicast: kept", device.thing_id, why)
            if device.failed:
                self._observe_again(device)
            return
        device.healthy = False
        device.failed.clear()
        self.registry.set_available(device.thing_id, False, f"{why}; /oic/d unanswered")
        await self._stop_observing(device)

    async def _answers(self, device: KnownDevice) -> bool:
        if device.endpoint is None:
            return False
        try:
            await self.client.get(device.endpoint, "/oic/d")
        except DeviceTimeout:
            return False
        except DeviceError:
            return True  # an error answer is an answer: the device is there
        return True

    async def _poll(self, device: KnownDevice) -> None:
        assert device.endpoint is not None
        props = await self._read_all(device.endpoint, device.links)
        for href, value in props.items():
            self.apply(device.thing_id, href, value)

    def apply(self, thing_id: str, href: str, value: Any) -> None:
        """A representation of ``href`` arrived: update the capabilities it carries."""
        thing = self.registry.get(thing_id)
        if thing is None or not isinstance(value, dict):
            return
        for cap in thing.capabilities.values():
            if cap.origin_meta.get("href") != href:
                continue
            self.registry.update_state(thing_id, cap.key, state_of(cap, value, cap.state))

    def forget(self, thing_id: str) -> None:
        """The registry forgot ``thing_id``: drop its records, so that it is new if found again."""
        for di, device in list(self.by_di.items()):
            if device.thing_id == thing_id:
                del self.by_di[di]
                if device.observations:
                    task = asyncio.ensure_future(self._stop_observing(device))
                    self._checks.add(task)
                    task.add_done_callback(self._checks.discard)


class _Watch:
    """Where one observation's notifications and end go: the device and the href it
    observes. One small object whose bound methods the observation holds, instead of two
    ``functools.partial`` (each with its own argument tuple and keyword dictionary): there
    are four for every OCF light."""

    __slots__ = ("device", "devices", "href")

    def __init__(self, devices: OcfDevices, device: KnownDevice, href: str) -> None:
        self.devices = devices
        self.device = device
        self.href = href

    def value(self, value: Any) -> None:
        self.devices._observed(self.device, self.href, value)

    def ended(self, reason: str) -> None:
        self.devices._observation_failed(self.device, self.href, reason)


def _resource_hrefs(links: list[Link]) -> set[str]:
    """The hrefs of the resources a full read reads: every link but the core ones."""
    return {link.href for link in links if not is_core_link(link)}


def needs_coaps(links: list[Link]) -> bool:
    """A secured device: a resource to bridge (or every link) is offered over coaps only."""
    return (any(link.secure_only for link in links if not is_core_link(link))
            or (bool(links) and all(link.secure_only for link in links)))


def state_of(cap: Capability, props: Mapping[str, Any],
             current: Mapping[str, Value] | None = None) -> dict[str, Value]:
    """The capability's values in a representation (canonical for models, as-is otherwise);
    values of ``current`` the representation spells the same way are kept."""
    if cap.model is not None:
        return model_state(cap.model, props, cap.origin_meta, current)
    assert cap.generic is not None
    names = {p.name for p in cap.generic.properties}
    return {k: v for k, v in props.items() if k in names}
