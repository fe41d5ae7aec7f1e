"""A simulated OCF device: a :class:`SimDevice` served by a real aiocoap OCF server.

Layer: ``bridge.sim``. It reuses the OCF side's server code (``bridge.ocf.coap_server``,
``bridge.ocf.served``, ``bridge.ocf.model_resources``) so a simulator speaks exactly what the
gateway's virtual devices speak. Each device has its own ephemeral port (like IoTivity-Lite
devices); one :class:`SimListing` per process answers multicast ``/oic/res`` on 5683 for all
devices of the process, listing each one's ``eps``. Like an OCF device without security, a
device that comes back after :meth:`OcfSimServer.vanish` has a fresh ``di`` and fresh ports and
keeps its ``piid``. Each device's endpoint applies the device's fault injection
(:mod:`bridge.sim.ocf_faults`). Without multicast (``SimListing(multicast=False)``, for tests
on loopback) devices answer unicast only: clients must be told their endpoints.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bridge.model.types import Value
from bridge.ocf import wire
from bridge.ocf.info import DMV, ICV
from bridge.ocf.netif import multicast_interfaces
from bridge.ocf.served import ServedDevice, ServedResource
from bridge.sim.device import SimDevice
from bridge.sim.ocf_faults import FaultyEndpoint
from bridge.sim.ocf_identity import OcfSimIdentity
from bridge.sim.ocf_resources import sim_resources
from bridge.sim.ocf_stack import Answerer, ListingEndpoint, StackQuirks


class SimListing:
    """The multicast ``/oic/res`` responder (UDP 5683) shared by the devices of one process."""

    def __init__(self, interfaces: Sequence[str] = (), port: int = wire.COAP_PORT, *,
                 multicast: bool = True, quirks: StackQuirks | None = None) -> None:
        self.servers: list[OcfSimServer] = []
        self._interfaces = tuple(interfaces)
        self._port = port
        self._multicast = multicast
        #: how this process's stack behaves (``bridge.sim.ocf_stack``).
        self.quirks = quirks or StackQuirks()
        self._endpoint: ListingEndpoint | None = None
        self._extra: Answerer | None = None

    def answer_also(self, answerer: Answerer) -> None:
        """Let ``answerer`` answer requests to the responder first (None: not its request);
        the secured devices answer multicast ``/oic/sec/doxm`` through it."""
        self._extra = answerer
        if self._endpoint is not None:
            self._endpoint.extra = answerer

    async def start(self) -> None:
        if self._endpoint is not None or not self._multicast:
            return
        groups = [(group, name) for name in multicast_interfaces(self._interfaces)
                  for group in (wire.MCAST_V4, wire.MCAST_V6["link"])]
        self._endpoint = ListingEndpoint(
            lambda: [s.device for s in self.servers if s.serving], port=self._port,
            multicast=groups, listed=self._listed, quirks=self.quirks)
        self._endpoint.extra = self._extra
        await self._endpoint.start()

    def stats(self) -> dict[str, int]:
        """What the stack quirks did (``bridge.sim.ocf_stack.ListingEndpoint.stats``)."""
        return self._endpoint.stats() if self._endpoint is not None else {}

    def _listed(self) -> list[tuple[ServedDevice, int]]:
        return [(s.served, s.port) for s in self.servers if s.serving]

    async def shutdown(self) -> None:
        endpoint, self._endpoint = self._endpoint, None
        if endpoint is not None:
            await endpoint.shutdown()


class OcfSimServer:
    """Serves one :class:`SimDevice` over OCF; satisfies ``bridge.sim.control.SimServer``."""

    def __init__(self, device: SimDevice, listing: SimListing | None = None, *,
                 bind_host: str = "::", port: int = 0,
                 identity: OcfSimIdentity | None = None) -> None:
        self.device = device
        self.piid = identity.piid if identity else str(uuid.uuid4())
        self.pi = identity.pi if identity else str(uuid.uuid4())
        self.di = identity.di if identity else str(uuid.uuid4())
        self._own_listing = listing is None
        self.listing = listing or SimListing()
        self._bind_host = bind_host
        self._requested_port = port
        self.endpoint: FaultyEndpoint | None = None
        self.hrefs: dict[str, str] = {}
        self.served = self._build()
        device.on_change(self._changed)

    @property
    def port(self) -> int:
        return self.endpoint.port if self.endpoint is not None else 0

    @property
    def serving(self) -> bool:
        return self.endpoint is not None

    def _build(self) -> ServedDevice:
        resources: dict[str, ServedResource] = {}
        if self.listing.quirks.client_only:
            self.hrefs = {}
        else:
            resources, self.hrefs = sim_resources(self.device, self._applier)
        device = {"n": self.device.name, "di": self.di, "piid": self.piid, "icv": ICV,
                  "dmv": DMV}
        platform = {"pi": self.pi, "mnmn": self.device.manufacturer[:16],
                    "mnmo": self.device.model}
        return ServedDevice(di=self.di, device_types=("oic.wk.d", self.device.device_type),
                            device=device, platform=platform, resources=resources)

    def _applier(self, cap_id: str) -> Any:
        async def apply(values: dict[str, Value]) -> None:
            self.device.write(cap_id, values)
        return apply

    def _changed(self, cap_id: str, values: Mapping[str, Value]) -> None:
        if self.endpoint is not None and cap_id in self.hrefs:
            self.endpoint.notify(self.hrefs[cap_id])

    async def start(self) -> Mapping[str, Any]:
        """Serve (again: a device that vanished comes back with a new ``di`` and port)."""
        if self.endpoint is None:
            self.endpoint = FaultyEndpoint(self.device, self.served, bind_host=self._bind_host,
                                           port=self._requested_port)
            await self.endpoint.start()
            if self not in self.listing.servers:
                self.listing.servers.append(self)
            await self.listing.start()
        return {"di": self.di, "piid": self.piid, "pi": self.pi, "port": self.port,
                "device_type": self.device.device_type, "hrefs": dict(self.hrefs)}

    def stats(self) -> dict[str, int]:
        """The listing's quirk counts and the GETs this device was asked, by kind and href
        (``bridge.sim.ocf_faults.FaultyEndpoint.requests``)."""
        counts = dict(self.endpoint.requests) if self.endpoint is not None else {}
        return {**self.listing.stats(), **counts}

    async def vanish(self) -> None:
        """Stop answering at once, without any goodbye; the next start has a fresh ``di``."""
        endpoint, self.endpoint = self.endpoint, None
        if endpoint is not None:
            await endpoint.shutdown()
        self.di = str(uuid.uuid4())
        self.served = self._build()

    async def stop(self) -> None:
        await self.vanish()
        if self in self.listing.servers:
            self.listing.servers.remove(self)
        if self._own_listing or not any(s.serving for s in self.listing.servers):
            await self.listing.shutdown()
