"""Find the MQTT broker by mDNS: the first service of type ``_mqtt._tcp`` that resolves.

Layer: ``bridge.discovery`` (zeroconf only). It only browses and resolves (RFC 6763 queries on
the interfaces it is given); it announces nothing and connects to nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from typing import Any

from zeroconf import InterfaceChoice, ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

log = logging.getLogger("ocfaj.discovery")

MQTT_SERVICE = "_mqtt._tcp.local."
#: how long one resolve of a found instance may take (SRV + A/AAAA), in milliseconds.
_RESOLVE_MS = 3000


async def find_mqtt_broker(search_time: float = 10.0,
                           interfaces: Sequence[str] | None = None) -> tuple[str, int] | None:
    """(host, port) of the first broker announcing ``_mqtt._tcp``; None after ``search_time`` s.

    ``interfaces`` are local IP addresses to browse on (zeroconf's ``interfaces``); None means
    every interface. IPv4 addresses are preferred over IPv6 ones of the same instance.
    """
    zc = AsyncZeroconf(interfaces=list(interfaces) if interfaces else InterfaceChoice.All)
    names: asyncio.Queue[str] = asyncio.Queue()

    def on_change(**kwargs: Any) -> None:
        if kwargs.get("state_change") in (ServiceStateChange.Added, ServiceStateChange.Updated):
            names.put_nowait(str(kwargs["name"]))

    browser = AsyncServiceBrowser(zc.zeroconf, [MQTT_SERVICE], handlers=[on_change])
    try:
        async with asyncio.timeout(search_time):
            while True:
                name = await names.get()
                found = await _resolve(zc, name)
                if found is not None:
                    log.info("mDNS: %s is an MQTT broker at %s:%d", name, *found)
                    return found
    except TimeoutError:
        log.warning("mDNS: no MQTT broker (%s) answered within %.0f s", MQTT_SERVICE, search_time)
        return None
    finally:
        await browser.async_cancel()
        await zc.async_close()


async def _resolve(zc: AsyncZeroconf, name: str) -> tuple[str, int] | None:
    info = AsyncServiceInfo(MQTT_SERVICE, name)
    if not await info.async_request(zc.zeroconf, _RESOLVE_MS) or not info.port:
        log.info("mDNS: %s did not resolve to an address and port", name)
        return None
    addresses: list[str] = list(info.parsed_scoped_addresses())
    if not addresses:
        return None
    addresses.sort(key=lambda a: ipaddress.ip_address(a.split("%")[0]).version)
    return addresses[0], int(info.port)
