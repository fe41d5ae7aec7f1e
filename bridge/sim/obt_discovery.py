"""How ``ocfaj simulate obt`` finds unowned secured OCF devices.

Layer: ``bridge.sim`` (the OCF side's multicast discovery sockets and ``OcfClient``). A
multicast ``GET /oic/sec/doxm?owned=FALSE`` round (IPv4 and IPv6 link-local) finds the
devices that answer it on 5683, then a multicast ``/oic/res`` round every responder; each
source is asked for its ``/oic/res``, and every device listed there for its doxm at its own
plain endpoint. So devices that do not listen on the multicast groups themselves but are
listed by a responder are found too, also once that responder is owned (and silent to the
first round): the gateway's secured virtual devices are listed by its bridge device.
``--device coap://HOST:PORT`` asks one address the same way, by unicast (where there is no
multicast, on loopback).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from bridge.core.errors import DeviceError
from bridge.ocf import svr, wire
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.discovery import MulticastDiscovery
from bridge.ocf.links import Endpoint, Link, parse_res, select_endpoint
from bridge.ocf.netif import multicast_interfaces
from bridge.ocf.unowned import DOXM_PATH, UnownedDevice, device_name, unowned_doxm

log = logging.getLogger("ocfaj.sim.obt")


async def multicast_sources(interfaces: Sequence[str], window: float) -> list[Endpoint]:
    """The sources that answered a multicast unowned-doxm round or an ``/oic/res`` round,
    with their zones."""
    discovery = MulticastDiscovery(multicast_interfaces(tuple(interfaces)), ipv4=True,
                                   ipv6_groups=[wire.MCAST_V6["link"]], window=window)
    await discovery.start()
    try:
        replies = await discovery.round(("owned=FALSE",), path=DOXM_PATH)
        replies += await discovery.round()
    finally:
        await discovery.shutdown()
    sources: dict[str, Endpoint] = {}
    for reply in replies:
        source = reply.source.with_zone(reply.interface)
        sources.setdefault(source.uri, source)
    return list(sources.values())


async def unowned_at(client: OcfClient, source: Endpoint) -> list[UnownedDevice]:
    """Every unowned device ``source``'s ``/oic/res`` lists (``source``'s own included)."""
    try:
        links = parse_res(await client.get(source, "/oic/res", limit=1 << 20), source)
    except DeviceError as err:
        log.info("%s: /oic/res unanswered (%s)", source.uri, err.message)
        return []
    by_device: dict[str, list[Link]] = {}
    for link in links:
        by_device.setdefault(link.di, []).append(link)
    zone = source.zone
    found = []
    for di, own in by_device.items():
        eps = [ep.with_zone(zone) for link in own for ep in link.eps]
        plain = select_endpoint(eps, zone=zone)
        if plain is None:
            continue
        device = await _unowned(client, plain, di)
        if device is not None:
            secure = select_endpoint(eps, zone=zone, secure=True)
            found.append(UnownedDevice(device[0], device[1], device[2], plain, secure,
                                       tuple(own)))
    return found


async def _unowned(client: OcfClient, plain: Endpoint, di: str
                   ) -> tuple[uuid.UUID, str, tuple[int, ...]] | None:
    try:
        doxm = await client.get(plain, svr.DOXM)
    except DeviceError:
        return None  # not secured, or owned (4.01 in clear)
    found = unowned_doxm(doxm, f"{plain.uri} (di {di})")
    if found is None:
        return None
    device, oxms = found
    name = await device_name(client, plain)
    return device, name, oxms


async def find_unowned(client: OcfClient, *, interfaces: Sequence[str], window: float,
                       device: Endpoint | None) -> list[UnownedDevice]:
    """Unowned devices found from ``device`` (unicast) or by one multicast round."""
    sources = [device] if device is not None else await multicast_sources(interfaces, window)
    found: dict[uuid.UUID, UnownedDevice] = {}
    for source in sources:
        for unowned in await unowned_at(client, source):
            found.setdefault(unowned.uuid, unowned)
    return sorted(found.values(), key=lambda d: (d.name, str(d.uuid)))
