"""Owning a secured OCF device: the one action behind ``ocfaj onboard`` and the control
interface's ``Onboard`` method.

Layer: ``bridge.daemon`` (configuration, the credential store, ``bridge.ocf.unowned`` and
``bridge.ocf.onboarding``). :func:`discover` finds unowned devices by multicast on the
configured OCF interfaces and families; :func:`own` takes one, provisions the gateway's
access and adds the owner PSK to the credential store, which a running gateway then reads
again (``bridge.daemon.ocf_credentials.CredentialWatch``).

Which method (docs/ocf.md, "Onboarding a secured device"): forced with ``method``
(``pin`` or ``mfgcert``); otherwise the manufacturer certificate when the device offers it
and ``[ocf] manufacturer_trust_anchors`` names trusted CAs, else Random PIN. A certificate
that is refused (expired, untrusted, not to the profile) ends the attempt, unless a PIN was
given too: then the PIN is tried next, and the output says both.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from bridge.core.errors import BridgeError, ConfigError, SecurityError
from bridge.daemon.config import Config
from bridge.daemon.ocf_credentials import OcfCredentials, OwnedRecord
from bridge.ocf import onboarding, svr, wire
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.links import Endpoint
from bridge.ocf.netif import multicast_interfaces
from bridge.ocf.unowned import UnownedDevice, find_unowned, grants_for, locate_secure

log = logging.getLogger("ocfaj.onboarding")

#: Seconds a multicast doxm round listens (the reference stack delays its answers).
WINDOW = 2.0

METHODS = {svr.JUST_WORKS: "Just Works (not supported: needs an anonymous ECDH suite that "
                           "OpenSSL lacks)",
           svr.RANDOM_PIN: "Random PIN",
           svr.MFG_CERT: "manufacturer certificate"}
#: ``--method`` names.
METHOD_CHOICES = {"pin": svr.RANDOM_PIN, "mfgcert": svr.MFG_CERT}


@dataclass(frozen=True)
class Owned:
    record: OwnedRecord
    resources: int
    #: the method's name (``METHODS``)
    method: str
    #: why a method tried before it was refused ("" when the first one worked)
    refused: str = ""


async def discover(config: Config, window: float = WINDOW) -> list[UnownedDevice]:
    """Unowned devices on the configured interfaces (IPv4 and the IPv6 scopes)."""
    ocf = config.ocf
    groups = [wire.MCAST_V6[scope] for scope in ocf.ipv6_scopes] if ocf.ipv6 else []
    client = OcfClient(ocf.request_timeout, ocf.max_payload)
    await client.start()
    try:
        return await find_unowned(multicast_interfaces(ocf.interfaces), ipv4=ocf.ipv4,
                                  ipv6_groups=groups, window=window, client=client)
    finally:
        await client.shutdown()


async def current_endpoint(config: Config, device: uuid.UUID,
                           window: float = WINDOW) -> Endpoint | None:
    """Where an owned ``device`` serves coaps now (multicast on the configured interfaces),
    or None when it does not answer."""
    ocf = config.ocf
    groups = [wire.MCAST_V6[scope] for scope in ocf.ipv6_scopes] if ocf.ipv6 else []
    return await locate_secure(multicast_interfaces(ocf.interfaces), ipv4=ocf.ipv4,
                               ipv6_groups=groups, window=window, device=device)


def describe(device: UnownedDevice) -> list[str]:
    """Lines that show one unowned device and its ownership methods."""
    lines = [f"{device.uuid}  {device.name or '?'}  {device.plain.uri}  unowned"]
    lines += [f"  ownership method {oxm}: {METHODS.get(oxm, 'unknown')}"
              for oxm in device.oxms]
    return lines


def trust_anchors(config: Config) -> Any:
    """The ``TrustAnchors`` of ``[ocf] manufacturer_trust_anchors``, or None."""
    path = config.ocf.manufacturer_trust_anchors
    if path is None:
        return None
    from bridge.ocf.mfg_trust import CertificateFileError, TrustAnchors

    try:
        return TrustAnchors.load(path)
    except CertificateFileError as err:
        raise ConfigError("ocf.manufacturer_trust_anchors", str(err)) from None


def methods_for(device: UnownedDevice, pin: str | None, method: str | None,
                anchors: Any) -> list[int]:
    """The methods to try, in order; ``SecurityError`` when none can be."""
    name = str(device.uuid)
    if method is not None:
        oxm = METHOD_CHOICES[method]
        if oxm not in device.oxms:
            raise SecurityError(name, f"the device offers no {METHODS[oxm]} transfer "
                                      f"(methods {list(device.oxms)})")
        if oxm == svr.MFG_CERT and anchors is None:
            raise SecurityError(name, "no manufacturer CA is trusted: set [ocf] "
                                      "manufacturer_trust_anchors")
        if oxm == svr.RANDOM_PIN and not pin:
            raise SecurityError(name, "Random PIN needs the PIN the device shows (--pin)")
        return [oxm]
    chosen = []
    if svr.MFG_CERT in device.oxms and anchors is not None:
        chosen.append(svr.MFG_CERT)
    if pin and svr.RANDOM_PIN in device.oxms:
        chosen.append(svr.RANDOM_PIN)
    if not chosen:
        if pin:
            raise SecurityError(name, "the device offers no Random PIN transfer "
                                      f"(methods {list(device.oxms)})")
        why = ("no manufacturer CA is trusted ([ocf] manufacturer_trust_anchors)"
               if svr.MFG_CERT in device.oxms else "the device offers no manufacturer "
                                                   "certificate transfer")
        raise SecurityError(name, f"{why}: give the PIN the device shows")
    return chosen


async def own(store: OcfCredentials, device: UnownedDevice, pin: str | None,
              request_timeout: float = 10.0, *, method: str | None = None,
              anchors: Any = None) -> Owned:
    """Own ``device`` (by the methods :func:`methods_for` picks) and keep its credential;
    ``SecurityError`` or ``DeviceError`` when it fails (the device then stays unowned)."""
    order = methods_for(device, pin, method, anchors)
    if device.secure is None:
        raise SecurityError(str(device.uuid), "the device lists no coaps endpoint")
    grants = grants_for(device.links)
    refused = ""
    for oxm in order:
        try:
            if oxm == svr.MFG_CERT:
                owned = await onboarding.take_ownership_by_certificate(
                    device.plain, device.secure, anchors, store.own, grants,
                    request_timeout=request_timeout)
            else:
                assert pin is not None
                owned = await onboarding.take_ownership(device.plain, device.secure, pin,
                                                        store.own, grants,
                                                        request_timeout=request_timeout)
        except SecurityError as err:
            if oxm != order[-1]:
                refused = err.message
                log.warning("OCF device %s (%s): %s; trying Random PIN", device.name,
                            device.uuid, err.message)
                continue
            raise
        break
    record = OwnedRecord(owned.uuid, device.name, device.secure.uri, owned.key)
    store.add(record)
    return Owned(record, len(grants), METHODS[owned.method], refused)


def pick(devices: list[UnownedDevice], wanted: str) -> UnownedDevice:
    """The device ``wanted`` names (a uuid, or empty when exactly one was found)."""
    if not wanted:
        if len(devices) == 1:
            return devices[0]
        raise SecurityError("onboard", f"{len(devices)} unowned devices found: name one by "
                                       "its uuid")
    try:
        chosen = uuid.UUID(wanted)
    except ValueError:
        raise SecurityError("onboard", f"{wanted!r} is not a uuid") from None
    for device in devices:
        if device.uuid == chosen:
            return device
    raise SecurityError("onboard", f"no unowned device {chosen} answered")


class ControlOnboarding:
    """``FindUnowned`` and ``Onboard`` of the control interface, for the running gateway:
    the same discovery and ownership as ``ocfaj onboard``, into the gateway's own credential
    store, which its OCF side reads again before its next discovery round."""

    def __init__(self, config: Config) -> None:
        self.config = config

    async def find(self) -> list[dict[str, Any]]:
        return [{"uuid": str(d.uuid), "name": d.name, "endpoint": d.plain.uri,
                 "oxms": [{"oxm": o, "method": METHODS.get(o, "unknown")} for o in d.oxms]}
                for d in await discover(self.config)]

    async def onboard(self, device: str, pin: str) -> dict[str, Any]:
        """Own ``device`` (a uuid); an empty ``pin``: by manufacturer certificate only."""
        from bridge.ocf.dtls_lib import load

        load()
        store = OcfCredentials(self.config.gateway.state_dir).load()
        anchors = trust_anchors(self.config)
        chosen = pick(await discover(self.config), device)
        try:
            owned = await own(store, chosen, pin or None, self.config.ocf.request_timeout * 5,
                              anchors=anchors)
        except BridgeError as err:
            log.warning("onboarding OCF device %s (%s) over the control interface failed: %s",
                        chosen.name, chosen.uuid, err)
            raise
        log.info("OCF device %s (%s) owned over the control interface by %s: new uuid %s",
                 chosen.name, chosen.uuid, owned.method, owned.record.uuid)
        answer = {"uuid": str(owned.record.uuid), "name": owned.record.name,
                  "resources": owned.resources, "method": owned.method}
        if owned.refused:
            answer["refused"] = owned.refused
        return answer
