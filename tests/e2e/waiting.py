"""Polling helpers of the end-to-end tests: OCF devices by name, with deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

import cbor2
from aiocoap import Context

from tests.e2e.ocf_client import Device, discover, request


class HasLogs(Protocol):
    """The gateways of a test (``gateway_factory``): their log tails for failure messages."""

    def logs(self, limit: int = 4000) -> str: ...


Named = list[tuple[Device, dict[str, Any]]]


async def named_devices(coap: Context) -> Named:
    """Every device that answers multicast discovery, with its ``/oic/d`` (baseline)."""
    devices = await discover(coap)
    named: Named = []
    for device in devices.values():
        if not device.di:
            continue
        try:
            response = await request(coap, "GET", device.base + "/oic/d?if=oic.if.baseline",
                                     within=3.0)
        except (TimeoutError, AssertionError):
            continue
        if response.code.is_successful():
            named.append((device, cbor2.loads(response.payload)))
    return named


def is_virtual(info: dict[str, Any]) -> bool:
    return "oic.d.virtual" in info.get("rt", [])


async def wait_devices(coap: Context, predicate: Callable[[Named], bool],
                       gateways: HasLogs,
                       what: str, within: float = 20.0) -> Named:
    """Discover until ``predicate`` holds for the named devices; returns them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        named = await named_devices(coap)
        if predicate(named):
            return named
        if loop.time() > deadline:
            seen = [(info.get("n"), device.di, is_virtual(info)) for device, info in named]
            raise AssertionError(f"timed out after {within} s waiting for {what}; OCF devices "
                                 f"seen: {seen}\n{gateways.logs()}")


async def virtual_ocf_device(coap: Context, name: str, gateways: HasLogs,
                             within: float = 20.0) -> Device:
    """The virtual OCF device (``oic.d.virtual``) called ``name``."""
    def match(named: Named) -> bool:
        return any(info.get("n") == name and is_virtual(info) for _, info in named)

    named = await wait_devices(coap, match, gateways, f"virtual OCF device {name!r}", within)
    return next(device for device, info in named if info.get("n") == name and is_virtual(info))
