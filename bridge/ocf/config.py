"""Settings of the OCF side: the ``[ocf]`` section of the configuration file.

Layer: ``bridge.ocf``, but pure data: standard library only. It must not import aiocoap or
cbor2, nor do I/O, so that the configuration loader (``bridge.daemon.config``) and the
documentation generator can read it without the OCF adapter's dependencies installed.

Each attribute's docstring is its user documentation: docs/configuration.md is generated from
it. ``metadata`` holds the bounds the loader enforces: ``ge``/``gt``/``le`` and ``check`` (a
function returning a problem text, or ``None`` when the value is fine).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from bridge.ocf.notify_pacing import CONFIRMABLE_EVERY

Ipv6Scope = Literal["link", "realm", "site"]


def _coap_uris(value: tuple[str, ...]) -> str | None:
    for uri in value:
        try:
            parts = urlsplit(uri)
            # urlsplit checks the port only when it is read.
            valid = parts.scheme in ("coap", "coaps") and bool(parts.hostname) and (
                parts.port is None or parts.port > 0)
        except ValueError:
            valid = False
        if not valid:
            return f"expected coap://host:port or coaps://host:port URIs, got {uri!r}"
    return None


def _ip_or_empty(value: str) -> str | None:
    if not value:
        return None
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return f"expected an IP address or an empty string, got {value!r}"
    return None


@dataclass(frozen=True)
class OcfConfig:
    """The OCF side: discovery of OCF devices over CoAP and the virtual OCF devices the
    gateway publishes for devices of the other sides."""

    enabled: bool = True
    """Run the OCF side at all. When false, OCF devices are neither discovered nor published."""

    interfaces: tuple[str, ...] = ()
    """Network interfaces (e.g. ``["eth0", "wlan0"]``) to send and receive multicast discovery
    on. Empty means every interface that is up and multicast-capable, except loopback."""

    ipv4: bool = True
    """Use IPv4 (multicast group 224.0.1.187)."""

    ipv6: bool = True
    """Use IPv6 (multicast groups ff0X::158 for the scopes in ``ipv6_scopes``)."""

    ipv6_scopes: tuple[Ipv6Scope, ...] = ("link",)
    """IPv6 multicast scopes to discover in: ``link`` (ff02::158), ``realm`` (ff03::158),
    ``site`` (ff05::158)."""

    discovery_interval: float = field(default=30.0, metadata={"gt": 0})
    """Seconds between two multicast discovery rounds (``GET /oic/res``)."""

    missed_rounds: int = field(default=3, metadata={"ge": 1})
    """A device that answered none of this many consecutive discovery rounds (and whose
    observations failed) is reported unavailable on every side."""

    request_timeout: float = field(default=5.0, metadata={"gt": 0})
    """Seconds to wait for an OCF device to answer a unicast request."""

    observe: bool = True
    """Observe (RFC 7641) resources that offer it instead of polling them."""

    observe_confirmable: bool = False
    """Register observations with confirmable requests. False (the default) registers them
    non-confirmable: a device that answers in the request's type (aiocoap's servers do) then
    sends non-confirmable notifications, which the gateway need not acknowledge, one datagram
    per notification instead of two. A lost non-confirmable notification is not sent again:
    set true on lossy links, so that such devices retransmit each notification until the
    gateway acknowledges it. Devices that choose the type themselves are not affected."""

    unicast_peers: tuple[str, ...] = field(default=(), metadata={"check": _coap_uris})
    """Devices to query by unicast in addition to multicast discovery, as ``coap://host:port``
    URIs: for devices on other subnets or networks where multicast does not pass."""

    server_port: int = field(default=5683, metadata={"ge": 1, "le": 65535})
    """UDP port of the gateway's own OCF server (the bridge device, ``/oic/res`` and the
    vodlist). Keep 5683 so that multicast discovery from OCF clients reaches it."""

    virtual_bind: str = field(default="", metadata={"check": _ip_or_empty})
    """Address the virtual OCF devices bind to; each listens on its own ephemeral port.
    Empty means every address. Either way, when ``interfaces`` names interfaces, the virtual
    devices and the 5683 listener answer only requests that arrive on those interfaces (or on
    loopback); a request that arrives on any other interface is dropped unanswered."""

    max_payload: int = field(default=16384, metadata={"ge": 1024})
    """Largest payload in bytes accepted from an OCF device; bigger answers are refused. A
    request to the gateway's OCF servers with a bigger body gets 4.13 with Size1 = this."""

    max_observers_per_client: int = field(default=100, metadata={"ge": 1})
    """Observations (RFC 7641) one client address may hold on the virtual devices and the
    bridge device together, whatever its ports. One more is refused with 5.03 (Service
    Unavailable) and a diagnostic payload naming the limit."""

    max_observers: int = field(default=1000, metadata={"ge": 1})
    """Observations all clients together may hold; one more is refused with 5.03 too."""

    observe_check: float = field(default=300.0, metadata={"gt": 0})
    """Seconds an observation may go without a notification before the gateway sends it a
    confirmable one of the current state, to learn whether the client is still there; a client
    that does not acknowledge it (about 93 s of retransmissions), or whose port is closed,
    loses the observation and its place under the caps above."""

    notify_confirmable_every: int = field(default=CONFIRMABLE_EVERY, metadata={"ge": 0})
    """One notification in this many goes confirmable to each observer of the virtual
    devices, the others non-confirmable (RFC 7641 lets the server choose), whatever type the
    observer registered with; at most one confirmable notification per observer waits for
    its acknowledgement. An RST to any notification, or a confirmable one left
    unacknowledged (about 93 s of retransmissions), ends the observation. 1: every
    notification confirmable, one client round trip each; 0: the type of the registration,
    as aiocoap's servers do (the behaviour before this key)."""

    max_uploads_per_client: int = field(default=4, metadata={"ge": 1})
    """Unfinished block-wise uploads (RFC 7959 Block1 POSTs) one client address may have at
    once. The first block of one more is refused with 5.03."""

    max_uploads: int = field(default=64, metadata={"ge": 1})
    """Unfinished block-wise uploads of all clients together; one more is refused with 5.03."""

    upload_expiry: float = field(default=30.0, metadata={"gt": 0})
    """Seconds an unfinished block-wise upload is kept after its last block. A client that
    sends the next block later gets 4.08 (Request Entity Incomplete) and starts again."""

    max_requests_per_client: int = field(default=2000, metadata={"ge": 1})
    """Requests one client address may have answered within the CoAP exchange lifetime
    (247 s), the time the gateway keeps each answer to resend it when the request is repeated
    (RFC 7252 section 4.5); the default lets a client keep up eight requests a second. One
    more is answered 5.03 with Max-Age set to the seconds until the oldest of them is
    forgotten, and leaves nothing behind; a multicast one is dropped."""

    max_requests: int = field(default=8000, metadata={"ge": 1})
    """Requests of all clients together within the exchange lifetime, as above."""

    multicast_answers_per_second: float = field(default=1.0, metadata={"gt": 0})
    """Multicast requests (discovery, ``GET /oic/res``) answered per second and per source
    address, on average. A ``/oic/res`` answer is many times the size of the request, so an
    unlimited responder would amplify a flood; multicast requests beyond the rate are dropped
    unanswered. Multicast requests from a source address that is not on the link of the
    interface they arrived on (no route without a gateway to it there) are never answered."""

    multicast_burst: int = field(default=5, metadata={"ge": 1})
    """Multicast requests one source may have answered in a row before
    ``multicast_answers_per_second`` applies (clients send a few at once: IPv4 and IPv6, one
    per scope)."""

    lean_get: bool = True
    """Answer plain GETs of the virtual OCF devices' resources on the gateway's own lean
    path, from a cached encoded representation, instead of through aiocoap: the same bytes,
    several times cheaper (docs/ocf.md, "The lean GET path"). Every other request (observe,
    block-wise, POST, errors, ``/oic/res``, multicast) is aiocoap's either way. Set false to
    have aiocoap answer everything. Secured virtual devices never use it."""

    lean_compiled: bool = True
    """Let the compiled lean GET path answer the repeats of the GETs the lean path answered,
    on a thread of its own outside the Python interpreter, where the package was installed
    with it built (a C compiler at install, Linux): the same bytes again, at the rate of a C
    CoAP server (docs/design.md, "The compiled GET path"). Without it, or set false, the
    Python lean path answers them. Only with ``lean_get`` on and ``interfaces`` unset."""

    secure_only_report: bool = True
    """Log once per device when a device offers only secure (``coaps://``) endpoints, which this
    gateway cannot reach without OCF security provisioning."""

    secure_virtual_devices: bool = False
    """Secure the gateway's own OCF devices (the bridge device and every virtual device) as
    OCF security asks: each starts unowned with a Random PIN (shown in the log, ``ocfaj
    devices`` and the MQTT bridge response), answers only discovery in clear, and serves its
    resources over DTLS (``coaps://``) to the clients its owner provisioned, once an OCF
    onboarding tool owned the bridge device and then the virtual device. Owners'
    provisioning is kept in ``<state_dir>/ocf-security/``. Needs the ``secure`` extra. Off by
    default: an OCF network without an onboarding tool (most home networks today, and every
    plain OCF client) could not use the virtual devices at all once they are secured
    (docs/ocf.md, "Secured virtual devices")."""

    manufacturer_trust_anchors: Path | None = None
    """A PEM file of the CA certificates this gateway trusts for OCF manufacturer
    certificates. With it, ``ocfaj onboard`` (and the control interface's ``Onboard``) owns
    a device that offers the manufacturer certificate transfer (``oxms`` 2) by that method
    when the certificate chain the device sends verifies against one of these CAs (path,
    validity periods, key usage: docs/security.md, "Manufacturer certificates"); otherwise
    by Random PIN. The gateway ships no CA: without this key no device is owned by
    certificate. Relative paths are read from the configuration file's directory."""

    manufacturer_certificate: Path | None = None
    """With ``secure_virtual_devices``: a PEM file with the manufacturer certificate (EC
    P-256, key usage digitalSignature, extended key usage serverAuth and OCF identity
    1.3.6.1.4.1.44924.1.6) that the gateway's bridge and virtual devices present, so that
    an onboarding tool can own them by certificate too (``oxms`` [1, 2]); certificates after
    the first in the file are sent as its chain. Checked at start: a file that does not load
    or does not fit the profile stops the gateway with the key and the reason."""

    manufacturer_key: Path | None = None
    """The unencrypted PEM private key of ``manufacturer_certificate`` (keep it mode 0600,
    readable by the service user only). Needed with ``manufacturer_certificate``."""

    manufacturer_chain: Path | None = None
    """Optional PEM file of the intermediate CA certificates sent with
    ``manufacturer_certificate``."""

    def problems(self) -> list[tuple[str, str]]:
        """Inconsistencies between keys, as (key, problem) pairs."""
        if (self.manufacturer_certificate is None) != (self.manufacturer_key is None):
            return [("manufacturer_key" if self.manufacturer_key is None
                     else "manufacturer_certificate",
                     "manufacturer_certificate and manufacturer_key go together")]
        if self.manufacturer_chain is not None and self.manufacturer_certificate is None:
            return [("manufacturer_chain", "needs manufacturer_certificate and "
                                           "manufacturer_key")]
        if self.enabled and not (self.ipv4 or self.ipv6):
            return [("ipv6", "ipv4 and ipv6 are both false: enable one, or set enabled = false")]
        if self.enabled and self.ipv6 and not self.ipv6_scopes:
            return [("ipv6_scopes", "expected at least one scope when ipv6 is true")]
        return []
