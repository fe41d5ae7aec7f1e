"""The security of the gateway's virtual OCF devices: one SecuredDevice each, kept and saved.

Layer: ``bridge.ocf`` (no sockets itself: it builds ``bridge.ocf.svr_device.SecuredDevice``
values and hands documents to a ``bridge.ocf.svr_store.SecurityStore``). Used only when
``[ocf] secure_virtual_devices`` is true (docs/ocf.md, "Secured virtual devices"):

- the bridge device (``oic.d.bridge``) and each virtual device start unowned, with a
  Random PIN of their own, under the uuid derived from the gateway name or the origin device
  (their ``di`` as without security); an owner may give them a new one, and a reset returns
  to it;
- a virtual device can be owned only once the bridge device is owned (OCF Bridging: the
  bridge is onboarded first);
- every change an owner makes is saved at once under the device's stable key (the
  origin-derived uuid), and loaded again when the device is published: after a restart, and
  when the origin device leaves and returns;
- with a manufacturer certificate (``[ocf] manufacturer_certificate``) every one of them
  also offers the certificate ownership transfer, presenting that certificate;
- the facts the user needs (owned, state, the PIN while unowned) go to the Thing's
  ``security["ocf"]``, where ``ocfaj devices`` and the MQTT bridge response read them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.core.errors import BridgeError
from bridge.core.registry import Registry
from bridge.core.thing import Thing
from bridge.ocf import svr
from bridge.ocf.svr_device import SecuredDevice
from bridge.ocf.svr_store import SecurityStore, from_document, to_document

if TYPE_CHECKING:
    from bridge.ocf.mfg_trust import DeviceCertificate

log = logging.getLogger("ocfaj.ocf.security")

BRIDGE_KEY = "bridge"


class VirtualSecurity:
    """The SecuredDevices of one gateway's bridge and virtual devices (process lifetime)."""

    def __init__(self, registry: Registry, store: SecurityStore | None, *, bridge_di: str,
                 gateway_name: str, certificate: DeviceCertificate | None = None) -> None:
        self.registry = registry
        self.store = store
        self.certificate = certificate
        self._devices: dict[str, SecuredDevice] = {}
        #: key -> id of the Thing whose facts follow the device
        self._things: dict[str, str] = {}
        self.bridge = self._secured(BRIDGE_KEY, uuid.UUID(bridge_di),
                                    f"bridge device {gateway_name}", None)

    def bridge_owned(self) -> bool:
        state = self.bridge.state
        return state.owned and state.state in (svr.DeviceState.RFPRO, svr.DeviceState.RFNOP)

    def _bridge_first(self) -> str | None:
        if self.bridge_owned():
            return None
        return (f"onboard the bridge device first (oic.d.bridge, deviceuuid "
                f"{self.bridge.state.device})")

    def device_for(self, thing: Thing) -> SecuredDevice:
        """The security of ``thing``'s virtual device: the one held, else the saved one,
        else a new unowned one."""
        key = thing.identity.di
        secured = self._devices.get(key)
        if secured is None:
            secured = self._secured(key, uuid.UUID(key), f"{thing.info.name} ({thing.id})",
                                    self._bridge_first)
        self._things[key] = thing.id
        self._changed(key, secured)
        return secured

    def uuids(self) -> set[str]:
        """Every uuid a device secured here answers to now (the gateway's own devices)."""
        return {str(s.state.device) for s in self._devices.values()}

    def _secured(self, key: str, first: uuid.UUID, name: str,
                 ownable: Callable[[], str | None] | None) -> SecuredDevice:
        state = self._load(key, first, name)
        secured = SecuredDevice(state, name, ownable=ownable, certificate=self.certificate)
        secured.listeners.append(lambda: self._changed(key, secured, save=True))
        self._devices[key] = secured
        if state.owned:
            log.info("secured OCF %s is owned (uuid %s, state %s)", name, state.device,
                     state.state.name)
        else:
            log.warning("secured OCF %s is unowned (uuid %s); its Random PIN is %s", name,
                        state.device, secured.pin)
        return secured

    def _load(self, key: str, first: uuid.UUID, name: str) -> svr.SecureState:
        fresh = svr.SecureState(first, first_device=first)
        if self.store is None:
            return fresh
        try:
            document = self.store.load(key)
            return fresh if document is None else from_document(document, first=first)
        except BridgeError as err:
            log.error("%s; secured OCF %s starts unowned", err, name)
        except (ValueError, KeyError, TypeError) as err:
            log.error("the saved security of OCF %s does not load (%s: %s); it starts "
                      "unowned", name, type(err).__name__, err)
        return fresh

    def _changed(self, key: str, secured: SecuredDevice, *, save: bool = False) -> None:
        thing = self.registry.get(self._things.get(key, ""))
        if thing is not None:
            thing.security["ocf"] = secured.facts
        if save:
            self._save(key, secured)

    def _save(self, key: str, secured: SecuredDevice) -> None:
        if self.store is None:
            return
        try:
            self.store.save(key, to_document(secured.state))
        except OSError as err:
            log.error("cannot save the security of OCF %s: %s; the owner's last change is "
                      "lost at the next restart", secured.name, err)
