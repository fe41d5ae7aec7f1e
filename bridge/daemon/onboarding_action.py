"""Owning a secured OCF device: the one action behind ``ocfaj onboard`` and the control
interface's ``Onboard`` method.

Layer: ``bridge.daemon`` (configuration, the credential store, ``bridge.ocf.unowned`` and
``bridge.ocf.onboarding``). :func:`discover` finds unowned devices by multicast on the
configured OCF interfaces and families; :func:`own` takes one with its PIN, provisions the
gateway's access and adds the owner PSK to the credential store, which a running gateway
then reads again (``bridge.daemon.ocf_credentials.CredentialWatch``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from bridge.core.errors import BridgeError, SecurityError
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
           svr.MFG_CERT: "manufacturer certificate (not supported yet)"}


@dataclass(frozen=True)
class Owned:
    record: OwnedRecord
    resources: int


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


async def own(store: OcfCredentials, device: UnownedDevice, pin: str,
              request_timeout: float = 10.0) -> Owned:
    """Own ``device`` with ``pin`` and keep its credential; ``SecurityError`` or
    ``DeviceError`` when it fails (the device then stays unowned)."""
    if svr.RANDOM_PIN not in device.oxms:
        raise SecurityError(str(device.uuid), "the device offers no Random PIN transfer "
                                              f"(methods {list(device.oxms)})")
    if device.secure is None:
        raise SecurityError(str(device.uuid), "the device lists no coaps endpoint")
    grants = grants_for(device.links)
    owned = await onboarding.take_ownership(device.plain, device.secure, pin, store.own,
                                            grants, request_timeout=request_timeout)
    record = OwnedRecord(owned.uuid, device.name, device.secure.uri, owned.key)
    store.add(record)
    return Owned(record, len(grants))


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
        from bridge.ocf.dtls_lib import load

        load()
        store = OcfCredentials(self.config.gateway.state_dir).load()
        chosen = pick(await discover(self.config), device)
        try:
            owned = await own(store, chosen, pin, self.config.ocf.request_timeout * 5)
        except BridgeError as err:
            log.warning("onboarding OCF device %s (%s) over the control interface failed: %s",
                        chosen.name, chosen.uuid, err)
            raise
        log.info("OCF device %s (%s) owned over the control interface: new uuid %s",
                 chosen.name, chosen.uuid, owned.record.uuid)
        return {"uuid": str(owned.record.uuid), "name": owned.record.name,
                "resources": owned.resources}
