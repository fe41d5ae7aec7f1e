"""Reading a device's resources: by GET, or through the first answer of their observation.

Layer: ``bridge.ocf`` I/O (through :class:`bridge.ocf.coap_client.OcfClient`). The answer to
a registration (GET with Observe=0) is the observation's first notification and carries the
resource's current representation (RFC 7641), so a resource the gateway will observe needs
no GET before it: that answer is its read (docs/ocf.md, "Reading through the observation").
An answer without the Observe option is a read too; a refused registration, or an answer
that is no representation, is followed by a GET. A confirmable registration left unanswered
is a read that failed (it was sent again and again); a non-confirmable one is sent once, so
after :data:`REGISTRATION_GRACE` a GET goes beside it and the first representation to
arrive is the read. It keeps no device records: the caller starts each observation (and
owns it, its end included) through the ``start`` it passes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bridge.core.errors import DeviceError, DeviceTimeout
from bridge.ocf.coap_client import Observation, OcfClient
from bridge.ocf.links import Endpoint

log = logging.getLogger("ocfaj.ocf.devices")

#: Seconds a non-confirmable registration may take to answer before a GET reads the resource
#: beside it: the time after which a confirmable request is sent again (RFC 7252 section 4.8,
#: ACK_TIMEOUT).
REGISTRATION_GRACE = 2.0

#: Starts the observation of an href with ``read=True`` (``OcfClient.observe``), for the caller.
StartObservation = Callable[[str], Observation]
Representations = dict[str, Mapping[str, Any]]


async def read_by_get(client: OcfClient, endpoint: Endpoint,
                      hrefs: Iterable[str]) -> Representations:
    """A GET of each of ``hrefs``, all at once; see :func:`representations`."""
    ordered = sorted(hrefs)
    return representations(ordered, await asyncio.gather(
        *(client.get(endpoint, href) for href in ordered), return_exceptions=True))


async def read_through(client: OcfClient, endpoint: Endpoint, hrefs: Iterable[str],
                       follow: set[str], start: StartObservation) -> Representations:
    """Each of ``hrefs``, those in ``follow`` through the observation ``start`` begins (four
    CoAP exchanges fewer for a light than a GET of each before the registrations)."""
    ordered = sorted(hrefs)
    return representations(ordered, await asyncio.gather(
        *(_read_one(client, endpoint, href, start if href in follow else None)
          for href in ordered), return_exceptions=True))


async def _read_one(client: OcfClient, endpoint: Endpoint, href: str,
                    start: StartObservation | None) -> Any:
    if start is None:
        return await client.get(endpoint, href)
    observation = start(href)
    try:
        return await first_answer(client, observation, endpoint)
    finally:
        observation.first = None  # the observation lives on; its read is done


async def first_answer(client: OcfClient, observation: Observation, endpoint: Endpoint) -> Any:
    """The representation the registration's first answer carries, else a GET's; a later
    first answer of the registration (after a GET won) is an ordinary notification."""
    first, href = observation.first, observation.href
    assert first is not None
    if not client.observe_confirmable:
        await asyncio.wait({first}, timeout=REGISTRATION_GRACE)
        if not first.done():
            read = asyncio.ensure_future(client.get(endpoint, href))
            read.add_done_callback(lambda f: f.cancelled() or f.exception())
            await asyncio.wait({first, read}, return_when=asyncio.FIRST_COMPLETED)
            if first.done() and first.exception() is None:
                return first.result()
            return await read
    try:
        return await first
    except DeviceTimeout:
        if client.observe_confirmable:
            raise  # the device is silent: the observation's end is handled by its owner
    except DeviceError as err:
        log.debug("OCF device at %s: %s, so it is read by GET (%s)", endpoint.uri, href,
                  err.message)
    return await client.get(endpoint, href)


def representations(hrefs: list[str], answers: list[Any]) -> Representations:
    """The representations among ``answers`` (one per href); a device's error answer or
    silence leaves its href out, anything else is raised."""
    props: Representations = {}
    for href, answer in zip(hrefs, answers, strict=True):
        if isinstance(answer, dict):
            props[href] = answer
        elif isinstance(answer, BaseException) and not isinstance(answer, DeviceError):
            raise answer
    return props
