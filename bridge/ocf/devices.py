"""The OCF devices the gateway found: Things built from them, observed, timed out, returning.

Layer: ``bridge.ocf`` I/O (through :class:`bridge.ocf.coap_client.OcfClient`). Each discovery
round hands :meth:`OcfDevices.update` the links it found, grouped by ``di``. A device seen for
the first time, on a new endpoint, or after being unavailable is (re)read: ``/oic/d``,
``/oic/p``, every resource, then observed. A device absent for ``missed_rounds`` rounds, or
whose observation fails, is reported unavailable. Identity (``piid`` first, else ``di``) goes
through the ``IdentityBook``, so a device that returns with a fresh ``di`` is the same Thing.
Devices reachable only over ``coaps`` are listed as not bridgeable and never contacted.
Another gateway's own bridge device (``oic.d.bridge``) is not a device to bridge: the devices it
serves are found on their own, and its vodlist would only mirror them back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bridge.core.errors import DeviceError
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Capability, DeviceInfo, Side, Thing
from bridge.model.types import Catalogue, Value
from bridge.ocf.coap_client import Observation, OcfClient
from bridge.ocf.info import BRIDGE, device_info, parse_device, platform_id
from bridge.ocf.links import Endpoint, Link, select_endpoint
from bridge.ocf.mapping import (
    build_capabilities,
    is_core_link,
    model_state,
    unmapped_types,
)

log = logging.getLogger("ocfaj.ocf.devices")
SECURE_ONLY = "secure-only endpoints (coaps)"


@dataclass
class Sighting:
    """What one discovery round saw of one device."""

    links: list[Link]
    source: Endpoint
    interface: str = ""


@dataclass
class KnownDevice:
    di: str
    thing_id: str = ""
    endpoint: Endpoint | None = None
    links: list[Link] = field(default_factory=list)
    missed: int = 0
    observations: list[Observation] = field(default_factory=list)
    secure_only: bool = False
    healthy: bool = False


class OcfDevices:
    """Turns discovery sightings into Things and keeps them current."""

    def __init__(self, registry: Registry, catalogue: Catalogue, book: IdentityBook,
                 client: OcfClient, *, missed_rounds: int, observe: bool,
                 is_own: Callable[[str], bool]) -> None:
        self.registry = registry
        self.catalogue = catalogue
        self.book = book
        self.client = client
        self.missed_rounds = missed_rounds
        self.observe = observe
        self.is_own = is_own
        self.by_di: dict[str, KnownDevice] = {}
        #: ``di`` of other bridges' bridge devices (never bridged, not read again).
        self.bridges: set[str] = set()
        self._busy: set[str] = set()
        self._cleanup: asyncio.Future[None] | None = None

    def device_of(self, thing_id: str) -> KnownDevice | None:
        for device in self.by_di.values():
            if device.thing_id == thing_id and device.endpoint is not None:
                return device
        return None

    async def update(self, sightings: Mapping[str, Sighting]) -> None:
        """Apply one discovery round (every device that answered, by ``di``)."""
        work = [self._seen(di, s) for di, s in sightings.items()
                if not self.is_own(di) and di not in self._busy and di not in self.bridges]
        await asyncio.gather(*work)
        for di, device in list(self.by_di.items()):
            if di in sightings:
                continue
            device.missed += 1
            if device.missed >= self.missed_rounds and device.healthy:
                device.healthy = False
                self.registry.set_available(
                    device.thing_id, False, f"missed {device.missed} discovery rounds")
                await self._stop_observing(device)
        if not self.observe:
            await asyncio.gather(*(self._poll(d) for d in self.by_di.values() if d.healthy))

    async def shutdown(self) -> None:
        for device in self.by_di.values():
            await self._stop_observing(device)

    async def _seen(self, di: str, sighting: Sighting) -> None:
        device = self.by_di.get(di)
        eps = [ep for link in sighting.links for ep in link.eps] or [sighting.source]
        endpoint = select_endpoint(eps, zone=sighting.interface,
                                   prefer_ipv6=sighting.source.is_ipv6)
        secure_only = endpoint is None and any(link.secure_only for link in sighting.links)
        if device is not None:
            device.missed = 0
            if (device.healthy and device.endpoint == endpoint
                    and device.links == sighting.links) or (secure_only and device.secure_only):
                return
        self._busy.add(di)
        try:
            await self._setup(di, sighting.links, endpoint, secure_only)
        except DeviceError as err:
            log.warning("OCF device %s at %s: could not read it (%s); retrying next round",
                        di, endpoint.uri if endpoint else "?", err.message)
        finally:
            self._busy.discard(di)

    async def _setup(self, di: str, links: list[Link], endpoint: Endpoint | None,
                     secure_only: bool) -> None:
        if endpoint is None:
            if secure_only:
                self._secure_only(di, links)
            else:
                log.warning("OCF device %s offers no usable endpoint; ignored", di)
            return
        facts = parse_device(await self.client.get(endpoint, "/oic/d"))
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
        try:
            platform: Any = await self.client.get(endpoint, "/oic/p")
        except DeviceError:
            platform = {}
        thing_id, identity = self.book.for_ocf_device(di, facts.piid, platform_id(platform))
        info = device_info(facts, platform)
        props = await self._read_all(endpoint, links)
        capabilities = build_capabilities(links, self.catalogue, props)
        for missing in unmapped_types(links):
            log.warning("%s (%s): resource %s has no model and no AllJoyn spelling; "
                        "not bridged", info.name, di, missing)
        for old in [d for d in self.by_di.values() if d.thing_id == thing_id and d.di != di]:
            await self._stop_observing(old)
            del self.by_di[old.di]
        device = self.by_di.get(di) or KnownDevice(di)
        await self._stop_observing(device)
        device.thing_id, device.endpoint, device.links = thing_id, endpoint, links
        device.secure_only, device.healthy, device.missed = False, True, 0
        self.by_di[di] = device
        thing = Thing(id=thing_id, origin=Side.OCF, identity=identity, info=info,
                      capabilities=capabilities, available=True, virtual=facts.virtual)
        thing.friendly_name = self.book.friendly_name(thing_id, info.name)
        self.registry.upsert(thing)
        if self.observe:
            self._start_observing(device, capabilities)

    async def _read_all(self, endpoint: Endpoint,
                        links: list[Link]) -> dict[str, Mapping[str, Any]]:
        hrefs = sorted({link.href for link in links if not is_core_link(link)})
        answers = await asyncio.gather(*(self.client.get(endpoint, href) for href in hrefs),
                                       return_exceptions=True)
        props: dict[str, Mapping[str, Any]] = {}
        for href, answer in zip(hrefs, answers, strict=True):
            if isinstance(answer, dict):
                props[href] = answer
            elif isinstance(answer, BaseException) and not isinstance(answer, DeviceError):
                raise answer
        return props

    def _secure_only(self, di: str, links: list[Link]) -> None:
        device = self.by_di.get(di) or KnownDevice(di)
        self.by_di[di] = device
        if device.secure_only:
            return
        thing_id, identity = self.book.for_ocf_device(di, "", "")
        device.thing_id, device.secure_only, device.links = thing_id, True, links
        log.warning("OCF device %s offers only secure endpoints (coaps): listed as not "
                    "bridgeable, never contacted in plaintext", di)
        info = DeviceInfo(name=f"OCF device {di[:8]}")
        thing = Thing(id=thing_id, origin=Side.OCF, identity=identity, info=info,
                      capabilities=build_capabilities(links, self.catalogue, {}),
                      not_bridgeable=SECURE_ONLY)
        self.registry.upsert(thing)

    def _start_observing(self, device: KnownDevice, caps: Mapping[str, Capability]) -> None:
        assert device.endpoint is not None
        observed = {str(cap.origin_meta["href"]) for cap in caps.values()
                    if cap.origin_meta.get("observable")}
        for href in sorted(observed):
            device.observations.append(self.client.observe(
                device.endpoint, href,
                functools.partial(self._observed, device.thing_id, href),
                functools.partial(self._observation_failed, device, href)))

    def _observed(self, thing_id: str, href: str, value: Any) -> None:
        self.apply(thing_id, href, value)

    async def _stop_observing(self, device: KnownDevice) -> None:
        observations, device.observations = device.observations, []
        await asyncio.gather(*(self.client.deregister(o) for o in observations))

    def _observation_failed(self, device: KnownDevice, href: str, reason: str) -> None:
        if not device.healthy:
            return
        device.healthy = False
        self.registry.set_available(device.thing_id, False,
                                    f"observation of {href} failed: {reason}")
        self._cleanup = asyncio.ensure_future(self._stop_observing(device))

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
            self.registry.update_state(thing_id, cap.key, state_of(cap, value))


def state_of(cap: Capability, props: Mapping[str, Any]) -> dict[str, Value]:
    """The capability's values in a representation (canonical for models, as-is otherwise)."""
    if cap.model is not None:
        return model_state(cap.model, props, cap.origin_meta)
    assert cap.generic is not None
    names = {p.name for p in cap.generic.properties}
    return {k: v for k, v in props.items() if k in names}
