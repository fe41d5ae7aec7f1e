"""``OcfSide``: everything OCF the daemon runs, behind one facade.

Layer: ``bridge.ocf`` (the adapter's entry point; the daemon constructs it). It wires the
discovery client (multicast rounds every ``discovery_interval`` plus unicast ``/oic/res`` of
``unicast_peers``), the device tracker that builds Things, the command handler registered for
``Side.OCF``, and the virtual device server. Constructor only assigns; ``start`` does I/O;
``shutdown`` is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bridge.core.errors import ConfigError, DeviceError, SecurityUnavailable
from bridge.core.events import Event, ThingRemoved
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.sharing import SHARED
from bridge.core.thing import Side
from bridge.model.types import Catalogue
from bridge.ocf import wire
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.coaps import SessionLimits
from bridge.ocf.config import OcfConfig
from bridge.ocf.devices import OcfDevices, Sighting
from bridge.ocf.discovery import DiscoveryReply, MulticastDiscovery
from bridge.ocf.handler import OcfCommandHandler
from bridge.ocf.keyring import KeySource
from bridge.ocf.limits import ClientLimits
from bridge.ocf.links import (
    Endpoint,
    Link,
    group_by_device,
    merge_links,
    parse_endpoint,
    parse_res,
)
from bridge.ocf.netif import local_address_towards, multicast_interfaces, unmapped
from bridge.ocf.provisioned import ProvisionedKeys
from bridge.ocf.svr_store import SecurityStore
from bridge.ocf.virtual import VirtualOcfDevices, multicast_groups

log = logging.getLogger("ocfaj.ocf")

#: Longest time a discovery round listens for replies (shorter when rounds are frequent).
MAX_REPLY_WINDOW = 2.0
#: Largest ``/oic/res`` accepted. ``max_payload`` bounds one resource's representation, but a
#: listing grows with the devices behind one endpoint (about 1 KiB per light): a simulator
#: process or another gateway with 50 devices already lists 48 KiB. 8 MiB still bounds memory.
LISTING_LIMIT = 8 * 1024 * 1024
#: DTLS sessions the gateway's client holds at once: one per owned device it bridges (each
#: carries the device's observations). The client can only finish a handshake with a device
#: it holds a key for, so the keys bound them; the default 64 of a server would close the
#: sessions of the 65th owned device onwards, and their observations with them.
CLIENT_SESSIONS = 1024
#: Handshakes the gateway's client runs at once (more wait their turn, ``bridge.ocf.coaps``).
#: A server's 16 guards against peers that stop half way; the client begins its own, to the
#: devices it owns, and a gateway restarted with 100 owned devices brought them up in about
#: 4 s with 64 against 5-13 s with 16 (docs/benchmarks.md, "Secured devices (secure)").
CLIENT_HANDSHAKES = 64
#: Seconds before a follow-up round when a block-wise listing could not be completed (doubled
#: for each further one), and how many follow-ups before the next regular round. A burst of
#: hundreds of replies (many devices, a loaded gateway) would else leave their devices
#: undiscovered for a whole ``discovery_interval``; so does a round during which the kernel
#: dropped datagrams (full receive buffers). A follow-up starts while the devices the round
#: before found are still being read (``OcfDevices`` reads none twice).
FOLLOW_UP_AFTER = 1.0
FOLLOW_UPS = 3


class OcfSide:
    def __init__(self, config: OcfConfig, registry: Registry, catalogue: Catalogue,
                 book: IdentityBook, gateway_name: str, *, keys: KeySource | None = None,
                 security_store: SecurityStore | None = None) -> None:
        self.config = config
        self.registry = registry
        self.catalogue = catalogue
        self.book = book
        self.gateway_name = gateway_name
        #: the keys of the secured devices the gateway owns (None: plaintext only).
        self.keys = keys
        #: where the owners' provisioning of the secured virtual devices is kept.
        self.security_store = security_store
        self.client = OcfClient(config.request_timeout, config.max_payload,
                                keyring=keys.keyring if keys is not None else None,
                                coaps_limits=SessionLimits(max_sessions=CLIENT_SESSIONS,
                                                           max_handshakes=CLIENT_HANDSHAKES),
                                coaps_once_keyed=True,
                                observe_confirmable=config.observe_confirmable)
        self.discovery: MulticastDiscovery | None = None
        self.virtual: VirtualOcfDevices | None = None
        self.devices: OcfDevices | None = None
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None
        self._round_done = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
        #: keys another onboarding tool provisioned on the secured bridge device.
        self._provisioned: ProvisionedKeys | None = None
        #: multicast rounds listening now: a requested round (``discover_once``) can run
        #: beside the periodic one, and each takes its sightings from its own replies.
        self._rounds_listening = 0
        #: reads of new devices started before their round ended (``_heard_reply``).
        self._early: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._task is not None or not self.config.enabled:
            return
        interfaces = multicast_interfaces(self.config.interfaces)
        v6_groups = ([wire.MCAST_V6[s] for s in self.config.ipv6_scopes]
                     if self.config.ipv6 else [])
        self.virtual = VirtualOcfDevices(
            self.registry, gateway_name=self.gateway_name, bind_host=self.config.virtual_bind,
            server_port=self.config.server_port,
            multicast=multicast_groups(interfaces, self.config.ipv4, v6_groups),
            max_payload=self.config.max_payload, limits=ClientLimits(self.config),
            interfaces=self.config.interfaces, secure=self._secure_virtual(),
            store=self.security_store, certificate=self._virtual_certificate(),
            lean_get=self.config.lean_get, lean_compiled=self.config.lean_compiled)
        self.devices = OcfDevices(self.registry, self.catalogue, self.book, self.client,
                                  missed_rounds=self.config.missed_rounds,
                                  observe=self.config.observe, is_own=self.virtual.owns,
                                  owned=self._owned, forget_key=self._forget_key)
        self.discovery = MulticastDiscovery(
            interfaces, ipv4=self.config.ipv4, ipv6_groups=v6_groups,
            window=min(MAX_REPLY_WINDOW, self.config.discovery_interval / 2),
            listing_limit=self._listing_limit, block_timeout=self.config.request_timeout,
            own=self._own_listener, on_reply=self._heard_reply)
        self._check_dtls()
        if self.keys is not None and self.virtual.security is not None:
            self._provisioned = ProvisionedKeys(self.virtual.security.bridge, self.keys.keyring)
        await self.client.start()
        await self.virtual.start()
        await self.discovery.start()
        self.registry.register_handler(Side.OCF, OcfCommandHandler(self.devices, self.client))
        self._unsubscribe = self.registry.bus.subscribe("ocf devices", self._on_removed)
        self._task = asyncio.ensure_future(self._loop())
        log.info("OCF side started on %s (gateway server port %d)",
                 ", ".join(interfaces) or "no interfaces", self.config.server_port)

    def _check_dtls(self) -> None:
        """With keys to use, the DTLS library must load (else the keys are dropped, with the
        reason); without any, it is not loaded (``OcfClient.speak_coaps``)."""
        if self.keys is None or not len(self.keys.keyring):
            return
        from bridge.ocf.dtls_lib import load

        try:
            load()
        except SecurityUnavailable as err:
            if len(self.keys.keyring):
                log.error("%d secured OCF devices are owned by this gateway but cannot be "
                          "bridged: %s", len(self.keys.keyring), err)
            self.keys = None
            self.client.keyring = None

    def _secure_virtual(self) -> bool:
        if not self.config.secure_virtual_devices:
            return False
        from bridge.ocf.dtls_lib import load

        load()  # SecurityUnavailable (what to install) stops the OCF side with the reason
        return True

    def _virtual_certificate(self) -> Any:
        """The manufacturer certificate of the secured virtual devices, or None."""
        config = self.config
        if not config.secure_virtual_devices or config.manufacturer_certificate is None \
                or config.manufacturer_key is None:
            return None
        from bridge.ocf.mfg_trust import CertificateFileError, DeviceCertificate

        try:
            return DeviceCertificate.load(config.manufacturer_certificate,
                                          config.manufacturer_key, config.manufacturer_chain)
        except CertificateFileError as err:
            raise ConfigError("ocf.manufacturer_certificate", str(err)) from None

    def _own_listener(self, host: str, port: int) -> bool:
        """A discovery reply from the gateway's own listener (multicast loops back)."""
        if self.virtual is None or port != self.virtual.listener.port:
            return False
        address, _, zone = host.partition("%")
        try:
            scope = socket.if_nametoindex(zone) if zone else 0
        except OSError:
            return False
        return local_address_towards(address, scope) == unmapped(address)

    def _owned(self, di: str) -> bool:
        return self.keys is not None and self.keys.keyring.holds(di)

    def _forget_key(self, di: str) -> None:
        if self.keys is not None:
            self.keys.forget(di)

    async def shutdown(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.devices is not None:
            await self.devices.shutdown()
        if self.discovery is not None:
            await self.discovery.shutdown()
        if self._provisioned is not None:
            self._provisioned.close()
            self._provisioned = None
        if self.virtual is not None:
            await self.virtual.shutdown()
        await self.client.shutdown()

    @property
    def block2_fetches(self) -> int:
        """Multicast replies that came block-wise and were completed on the discovery socket."""
        return self.discovery.block_transfers if self.discovery else 0

    def _on_removed(self, event: Event) -> None:
        if (isinstance(event, ThingRemoved) and event.thing.origin == Side.OCF
                and self.devices is not None):
            self.devices.forget(event.thing.id)

    def status(self) -> dict[str, Any]:
        devices = self.devices.by_di.values() if self.devices else []
        return {
            "discovered": sum(1 for d in devices if not d.secure_only),
            "available": sum(1 for d in devices if d.healthy),
            "not_bridgeable": sum(1 for d in devices if d.secure_only),
            "virtual": len(self.virtual.virtuals) if self.virtual else 0,
            "discovery_rounds": self.rounds,
            **({"clients": self.virtual.clients()} if self.virtual is not None else {}),
            **({"bridge_device": self.virtual.security.bridge.facts}
               if self.virtual is not None and self.virtual.security is not None else {}),
        }

    async def next_round(self) -> None:
        """Wait until the next discovery round has been applied (for tests and tools)."""
        self._round_done.clear()
        await self._round_done.wait()

    async def _loop(self) -> None:
        follow_ups = 0
        #: rounds whose devices are still being read (a follow-up does not wait for them).
        reading: set[asyncio.Task[None]] = set()
        try:
            while True:
                assert self.discovery is not None and self.devices is not None
                failures = self.discovery.block_transfer_failures
                dropped = self.discovery.datagrams_dropped
                try:
                    sightings = await self._listen()
                except Exception:
                    log.exception("OCF discovery round failed; trying again next round")
                    self._round_done.set()
                else:
                    task = asyncio.ensure_future(self._apply(sightings,
                                                             follow_up=follow_ups > 0))
                    reading.add(task)
                    task.add_done_callback(reading.discard)
                    del sightings  # the task keeps them while it needs them, not the loop
                for early in self._early:  # the round's devices read before it ended
                    reading.add(early)
                    early.add_done_callback(reading.discard)
                why = _follow_up_reason(self.discovery.block_transfer_failures - failures,
                                        self.discovery.datagrams_dropped - dropped)
                delay = self.config.discovery_interval
                if why and follow_ups < FOLLOW_UPS:
                    delay = min(delay, FOLLOW_UP_AFTER * 2 ** follow_ups)
                    follow_ups += 1
                    log.info("OCF discovery: %s this round; another round in %g s (the "
                             "devices found are read meanwhile)", why, delay)
                else:
                    follow_ups = 0
                    # A regular round ends once its devices (and its follow-ups') are read.
                    await asyncio.gather(*reading)
                await asyncio.sleep(delay)
        finally:
            reading.update(self._early)
            for task in reading:
                task.cancel()
            await asyncio.gather(*reading, return_exceptions=True)

    async def _apply(self, sightings: dict[str, Sighting], *, follow_up: bool) -> None:
        """Hand one round's sightings to the device tracker (reads the new devices)."""
        assert self.devices is not None
        try:
            await self.devices.update(sightings, count_missed=not follow_up)
            self.rounds += 1
        except Exception:
            log.exception("OCF discovery round failed; trying again next round")
        self._round_done.set()

    async def discover_once(self, *, follow_up: bool = False) -> None:
        """One round, until its devices are read. A ``follow_up`` round (after incomplete
        listings) finds devices but counts no missed rounds: devices it does not hear from
        are not one round closer to being checked."""
        assert self.devices is not None
        sightings = await self._listen()
        await asyncio.gather(self.devices.update(sightings, count_missed=not follow_up),
                             *self._early)
        self.rounds += 1

    async def _listen(self) -> dict[str, Sighting]:
        """The sightings of one round: multicast replies and the unicast peers' listings."""
        assert self.discovery is not None and self.devices is not None
        if self.keys is not None:
            self.keys.refresh()
            if self.client.coaps is None and len(self.keys.keyring):
                self._check_dtls()
                await self.client.speak_coaps()
        peers = [p for p in map(parse_endpoint, self.config.unicast_peers)
                 if p is not None and not p.secure]
        # The unicast peers are asked while the multicast round listens, all at once (one
        # silent peer must not hold up the others), and new devices among them are set up
        # at once: they need not wait for the round's window (up to 2 s).
        self._rounds_listening += 1
        try:
            replies, answers = await asyncio.gather(self.discovery.round(),
                                                    self._unicast_listings(peers))
        finally:
            self._rounds_listening -= 1
        sightings: dict[str, Sighting] = {}
        for reply in replies:
            links = self._links_of(reply)
            if links is not None:
                _merge(sightings, links, reply.source, reply.interface)
        for peer, value in zip(peers, answers, strict=True):
            if value is not None:
                _merge(sightings, parse_res(value, peer), peer, "")
        return sightings

    async def _unicast_listings(self, peers: list[Endpoint]) -> list[Any]:
        """Each peer's ``/oic/res`` (None where it did not answer); new devices set up."""
        assert self.devices is not None
        answers = list(await asyncio.gather(*(self._listing_of(peer) for peer in peers)))
        found: dict[str, Sighting] = {}
        for peer, value in zip(peers, answers, strict=True):
            if value is not None:
                _merge(found, parse_res(value, peer), peer, "")
        await self.devices.admit_new(found)
        return answers

    async def _listing_of(self, peer: Endpoint) -> Any:
        try:
            return await self.client.get(peer, "/oic/res", limit=self._listing_limit)
        except DeviceError as err:
            log.debug("unicast discovery of %s failed: %s", peer.uri, err.message)
            return None

    @property
    def _listing_limit(self) -> int:
        return max(LISTING_LIMIT, self.config.max_payload)

    def _heard_reply(self, reply: DiscoveryReply) -> None:
        """A multicast reply of the running round, taken in as it arrives. The new devices it
        lists are read without waiting for the round's window (docs/ocf.md, "What is
        discovered"), once no block-wise listing is being completed, when it came in the
        family whose endpoints the gateway prefers (IPv6 when it discovers over IPv6, else
        IPv4): a device that answers in both is then read at the endpoint the round as a
        whole would have chosen."""
        if not self._rounds_listening or self.devices is None:
            return  # a late reply of a round that ended: the next round hears it again
        if reply.source.is_ipv6 != bool(self.discovery and self.discovery.ipv6_groups):
            return
        try:
            links = reply.links()
        except wire.PayloadError:
            return  # the round's own pass over its replies says so (``_links_of``)
        found: dict[str, Sighting] = {}
        _merge(found, links, reply.source, reply.interface)
        task = asyncio.ensure_future(self._admit_early(found, reply.source))
        self._early.add(task)
        task.add_done_callback(self._early.discard)

    @staticmethod
    def _links_of(reply: DiscoveryReply) -> list[Link] | None:
        try:
            return reply.links()
        except wire.PayloadError as err:
            log.warning("unreadable /oic/res from %s: %s; its devices are not discovered",
                        reply.source.uri, err)
            return None

    async def _admit_early(self, found: dict[str, Sighting], source: Endpoint) -> None:
        assert self.devices is not None and self.discovery is not None
        try:
            # The round's block-wise listings first: reads started meanwhile would slow their
            # blocks down (the devices answer both), and a listing not completed within
            # request_timeout leaves its devices to a later round.
            await self.discovery.listings_completed()
            await self.devices.admit_new(found)
        except Exception:
            log.exception("OCF discovery: reading the new devices listed by %s failed; "
                          "trying again next round", source.uri)


def _follow_up_reason(incomplete: int, dropped: int) -> str:
    """Why a round is followed up ("": it is not). Block-wise listings that could not be
    completed leave devices unseen; so may datagrams the kernel dropped while the round ran:
    replies to one multicast request all arrive at once, those beyond a socket's receive
    buffer are dropped (``bridge.ocf.receive_buffer``), and nobody sends them again."""
    reasons = [f"{incomplete} block-wise listing(s) incomplete"] if incomplete else []
    if dropped:
        reasons.append(f"{dropped} datagram(s) dropped by the kernel (receive buffers full)")
    return ", ".join(reasons)


def _merge(sightings: dict[str, Sighting], links: list[Link], source: Endpoint,
           interface: str) -> None:
    """Add one reply's links to the round's sightings: a device that answered on several
    endpoints (IPv4 and IPv6, several interfaces) is one sighting with all of them."""
    for di, device_links in group_by_device(links).items():
        zoned = [_zoned(link, interface) for link in device_links]
        known = sightings.get(di)
        if known is None:
            sightings[di] = Sighting(zoned, source, interface)
        else:
            known.links = merge_links(known.links, zoned)


def _zoned(link: Link, interface: str) -> Link:
    """``link`` with the zone of ``interface`` on its link-local endpoints; the same link (and
    its shared endpoints, ``bridge.core.sharing``) when none needs one."""
    eps = tuple(ep.with_zone(interface) for ep in link.eps)
    return link if eps == link.eps else replace(link, eps=SHARED.share(eps))
