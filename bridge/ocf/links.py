"""``/oic/res`` links and their endpoints: parsing every shape devices send, picking an endpoint.

Layer: ``bridge.ocf``, pure: no socket, no asyncio, no aiocoap. Input is the decoded CBOR value
of a ``/oic/res`` reply (docs/protocol-notes.md: ``oic.if.ll`` flat array, ``oic.if.baseline``
wrapper with ``links``, OIC 1.1 ``[{"di", "links": [...]}]``); output is a flat list of
:class:`Link` each carrying the ``di`` of its device. Malformed entries are skipped, never
raised: one broken link must not hide the device's other links. The names, paths and endpoints
of parsed links are shared (``bridge.core.sharing``): every device's records point at one copy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bridge.core.sharing import SHARED
from bridge.ocf.wire import BM_OBSERVABLE, COAP_PORT, COAPS_PORT

_EP = re.compile(r"(?P<scheme>[a-z+]+)://(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:/\[\]]+))"
                 r"(?::(?P<port>\d{1,5}))?/?$")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One ``eps`` entry: scheme, host (IPv6 with its ``%zone`` when it has one), port."""

    scheme: str
    host: str
    port: int

    @property
    def secure(self) -> bool:
        return self.scheme != "coap"

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    @property
    def link_local(self) -> bool:
        try:
            address = ipaddress.ip_address(self.host.split("%", 1)[0])
        except ValueError:
            return False
        return address.is_link_local

    @property
    def zone(self) -> str:
        return self.host.split("%", 1)[1] if "%" in self.host else ""

    @property
    def uri(self) -> str:
        """The endpoint as OCF prints it (zone id literal, as in ``eps``)."""
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def request_uri(self) -> str:
        """The endpoint as a URI for aiocoap, which takes the zone literally (``%eth0``; it
        does not decode RFC 6874's ``%25``)."""
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def with_zone(self, zone: str) -> Endpoint:
        """This endpoint with ``zone`` added when it is link-local and has none yet."""
        if not zone or not self.is_ipv6 or self.zone or not self.link_local:
            return self
        return SHARED.share(Endpoint(self.scheme, f"{self.host}%{zone}", self.port))


def parse_endpoint(text: Any) -> Endpoint | None:
    """An ``ep`` string as an :class:`Endpoint`, or None when it is not one."""
    if not isinstance(text, str):
        return None
    match = _EP.match(text.strip())
    if match is None:
        return None
    scheme = match.group("scheme")
    host = match.group("v6") or match.group("host") or ""
    if match.group("v6"):
        host = host.replace("%25", "%", 1)
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None
    default = COAPS_PORT if scheme.startswith("coaps") else COAP_PORT
    port = int(match.group("port")) if match.group("port") else default
    if not 0 < port < 65536:
        return None
    return SHARED.share(Endpoint(SHARED.share(scheme), host, port))


@dataclass(frozen=True, slots=True)
class Link:
    """One resource of one device, as ``/oic/res`` lists it."""

    di: str
    href: str
    rts: tuple[str, ...]
    ifs: tuple[str, ...]
    bm: int = 1
    eps: tuple[Endpoint, ...] = ()

    @property
    def observable(self) -> bool:
        return bool(self.bm & BM_OBSERVABLE)

    @property
    def secure_only(self) -> bool:
        """Every endpoint is secure (``coaps``): plaintext requests must not be sent."""
        return bool(self.eps) and all(ep.secure for ep in self.eps)


def _names(value: Any) -> tuple[str, ...]:
    # OIC 1.1 devices send rt/if as one space-separated string, OCF 1.x as an array.
    if isinstance(value, str):
        return SHARED.names(tuple(value.split()))
    if isinstance(value, list):
        return SHARED.names(tuple(item for item in value if isinstance(item, str) and item))
    return ()


def _di_of_anchor(anchor: Any) -> str:
    if isinstance(anchor, str) and anchor.startswith("ocf://"):
        return anchor[len("ocf://"):].strip("/")
    return ""


def _link(entry: Any, parent_di: str, source: Endpoint | None) -> Link | None:
    if not isinstance(entry, dict):
        return None
    href = entry.get("href")
    if not isinstance(href, str) or not href.startswith("/"):
        return None
    di = _di_of_anchor(entry.get("anchor")) or parent_di
    if not di:
        return None
    policy = entry.get("p")
    policy = policy if isinstance(policy, dict) else {}
    bm = policy.get("bm", 1)
    bm = bm if isinstance(bm, int) and not isinstance(bm, bool) else 1
    eps: list[Endpoint] = []
    raw_eps = entry.get("eps")
    if isinstance(raw_eps, list):
        for item in raw_eps:
            ep = parse_endpoint(item.get("ep")) if isinstance(item, dict) else None
            if ep is not None:
                eps.append(ep)
    elif source is not None:
        eps.extend(_oic11_eps(policy, source))
    return Link(di=SHARED.share(di), href=SHARED.share(href), rts=_names(entry.get("rt")),
                ifs=_names(entry.get("if")), bm=bm, eps=SHARED.share(tuple(eps)))


def _oic11_eps(policy: dict[str, Any], source: Endpoint) -> list[Endpoint]:
    """OIC 1.1 links carry no ``eps``: the reply's source, or ``p.port`` when ``p.sec``."""
    port = policy.get("port")
    if policy.get("sec") is True:
        if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
            return [Endpoint("coaps", source.host, port)]
        return [Endpoint("coaps", source.host, COAPS_PORT)]
    return [source]


def parse_res(value: Any, source: Endpoint | None = None) -> list[Link]:
    """Every well-formed link of a decoded ``/oic/res`` payload, in any of the three shapes.

    ``source`` is where the reply came from: OIC 1.1 links without ``eps`` are reachable there.
    """
    entries: Iterable[Any]
    if isinstance(value, dict):
        entries = [value]
    elif isinstance(value, list):
        entries = value
    else:
        return []
    links: list[Link] = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("links"), list):
            raw_di = entry.get("di")
            parent_di = raw_di if isinstance(raw_di, str) else ""
            for item in entry["links"]:
                link = _link(item, parent_di, source)
                if link is not None:
                    links.append(link)
        else:
            link = _link(entry, "", source)
            if link is not None:
                links.append(link)
    return links


def group_by_device(links: Iterable[Link]) -> dict[str, list[Link]]:
    groups: dict[str, list[Link]] = {}
    for link in links:
        groups.setdefault(link.di, []).append(link)
    return groups


def select_endpoint(eps: Iterable[Endpoint], *, zone: str = "",
                    current: Endpoint | None = None, secure: bool = False) -> Endpoint | None:
    """The plaintext endpoint to use, or None when there is none (secure-only, or no eps);
    with ``secure``, the ``coaps`` endpoint by the same rule (for a device the gateway holds
    a key for).

    Link-local IPv6 endpoints arrive without a zone (docs/ocf.md, "Interoperability"): they
    get ``zone``, the interface the reply came in on; without one they are unusable. The
    choice is stable, whatever order a device's replies arrive in (a dual-stack device
    answers on IPv4 and on IPv6 and lists only the request's family in each answer):
    ``current``, the endpoint in use, while it is still offered; else IPv6 before IPv4,
    routable before link-local, then the lowest address and port.
    """
    scheme = "coaps" if secure else "coap"
    usable: list[Endpoint] = []
    for ep in eps:
        if ep.scheme != scheme:
            continue
        ep = ep.with_zone(zone)
        if ep.is_ipv6 and ep.link_local and not ep.zone:
            continue
        usable.append(ep)
    if not usable:
        return None
    if current is not None and current in usable:
        return current
    return min(usable, key=lambda ep: (not ep.is_ipv6, ep.link_local, ep.host, ep.port))


def listing_key(links: Iterable[Link]) -> tuple[tuple[str, tuple[str, ...], tuple[str, ...], int],
                                                ...]:
    """What a device's links say about its resources, without where they are reachable:
    a change here (a resource added, removed, retyped) needs a new read of the device; a
    change of ``eps`` alone does not."""
    return tuple(sorted({(link.href, link.rts, link.ifs, link.bm) for link in links}))


def merge_links(known: list[Link], more: Iterable[Link]) -> list[Link]:
    """``known`` with the endpoints of ``more`` added per ``href`` (and links it lacked)."""
    merged = {link.href: link for link in known}
    for link in more:
        old = merged.get(link.href)
        if old is None:
            merged[link.href] = link
        else:
            eps = old.eps + tuple(ep for ep in link.eps if ep not in old.eps)
            merged[link.href] = Link(old.di, old.href, old.rts, old.ifs, old.bm, eps)
    return list(merged.values())
