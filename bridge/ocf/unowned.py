"""Finding unowned secured OCF devices: multicast ``GET /oic/sec/doxm?owned=FALSE``.

Layer: ``bridge.ocf`` I/O (the discovery sockets of ``bridge.ocf.discovery`` and unicast
requests through ``OcfClient``). One round on every configured interface and family; devices
that do not match stay silent. Each answer names the device's uuid and ownership methods
(``oxms``); a unicast ``/oic/res`` at the answer's source then gives the device's own
endpoints (its plain endpoint for ``/oic/d``, its coaps endpoint) and ``/oic/d`` its name. A
device that answers on both families is one device.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from bridge.core.errors import DeviceError
from bridge.ocf import wire
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.discovery import DiscoveryReply, MulticastDiscovery
from bridge.ocf.links import Endpoint, Link, parse_res, select_endpoint
from bridge.ocf.onboarding import permission_for

log = logging.getLogger("ocfaj.ocf.unowned")

DOXM_PATH = ("oic", "sec", "doxm")


@dataclass(frozen=True)
class UnownedDevice:
    """An unowned device as discovery saw it: enough to show it and to own it."""

    uuid: uuid.UUID
    name: str
    oxms: tuple[int, ...]
    plain: Endpoint
    secure: Endpoint | None
    links: tuple[Link, ...]


async def find_unowned(interfaces: Sequence[str], *, ipv4: bool, ipv6_groups: Sequence[str],
                       window: float, client: OcfClient) -> list[UnownedDevice]:
    """Every unowned device that answers one multicast round within ``window`` seconds."""
    discovery = MulticastDiscovery(interfaces, ipv4=ipv4, ipv6_groups=ipv6_groups,
                                   window=window)
    await discovery.start()
    try:
        replies = await discovery.round(("owned=FALSE",), path=DOXM_PATH)
    finally:
        await discovery.shutdown()
    found: dict[uuid.UUID, UnownedDevice] = {}
    for reply in replies:
        doxm = _doxm(reply)
        if doxm is None or doxm[0] in found:
            continue
        device = await _describe(client, reply, *doxm)
        if device is not None:
            found[device.uuid] = device
    return sorted(found.values(), key=lambda d: (d.name, str(d.uuid)))


async def locate_secure(interfaces: Sequence[str], *, ipv4: bool, ipv6_groups: Sequence[str],
                        window: float, device: uuid.UUID) -> Endpoint | None:
    """The ``coaps`` endpoint ``device`` lists now in its multicast ``/oic/res`` answer, or
    None when it does not answer within ``window`` seconds. A device that restarted may
    listen on new ports (the reference stack picks them at random at every start), so an
    endpoint stored at onboarding can be stale."""
    discovery = MulticastDiscovery(interfaces, ipv4=ipv4, ipv6_groups=ipv6_groups,
                                   window=window)
    await discovery.start()
    try:
        replies = await discovery.round()
    finally:
        await discovery.shutdown()
    for reply in replies:
        try:
            listing = wire.decode(reply.payload)
        except wire.PayloadError:
            continue
        eps = [ep.with_zone(reply.interface) for link in parse_res(listing, reply.source)
               if link.di == str(device) for ep in link.eps]
        found = select_endpoint(eps, zone=reply.interface, secure=True)
        if found is not None:
            return found
    return None


def _doxm(reply: DiscoveryReply) -> tuple[uuid.UUID, tuple[int, ...]] | None:
    try:
        doxm = wire.decode(reply.payload)
    except wire.PayloadError as err:
        log.info("unreadable doxm from %s (%s); ignored", reply.source.uri, err)
        return None
    return unowned_doxm(doxm, reply.source.uri)


def unowned_doxm(doxm: object, where: str) -> tuple[uuid.UUID, tuple[int, ...]] | None:
    """The device uuid and ownership methods of a decoded doxm that says it is unowned, or
    None (owned, or no usable ``deviceuuid``: logged with ``where``)."""
    if not isinstance(doxm, dict) or doxm.get("owned") is not False:
        return None
    try:
        device = uuid.UUID(str(doxm.get("deviceuuid")))
    except ValueError:
        log.info("doxm from %s has no deviceuuid; ignored", where)
        return None
    raw = doxm.get("oxms")
    oxms = tuple(o for o in raw if isinstance(o, int)) if isinstance(raw, list) else ()
    return device, oxms


async def device_name(client: OcfClient, plain: Endpoint) -> str:
    """The device's ``n`` from its ``/oic/d`` ("" when it does not answer)."""
    try:
        info = await client.get(plain, "/oic/d")
    except DeviceError:
        return ""
    return str(info.get("n", "")) if isinstance(info, dict) else ""


async def _describe(client: OcfClient, reply: DiscoveryReply, device: uuid.UUID,
                    oxms: tuple[int, ...]) -> UnownedDevice | None:
    try:
        listing = await client.get(reply.source, "/oic/res")
    except DeviceError as err:
        log.info("unowned device %s at %s: /oic/res unanswered (%s)", device,
                 reply.source.uri, err.message)
        return None
    links = [link for link in parse_res(listing, reply.source) if link.di == str(device)]
    eps = [ep.with_zone(reply.interface) for link in links for ep in link.eps]
    plain = select_endpoint(eps, zone=reply.interface) or reply.source
    secure = select_endpoint(eps, zone=reply.interface, secure=True)
    return UnownedDevice(device, await device_name(client, plain), oxms, plain, secure,
                         tuple(links))


def grants_for(links: Sequence[Link]) -> dict[str, int]:
    """The ACE permission of each resource the gateway bridges (non-core ones)."""
    return {link.href: permission_for(link.ifs) for link in links
            if not link.href.startswith("/oic/")}
