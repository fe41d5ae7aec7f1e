"""Devices owned by another onboarding tool: the pairwise keys it gave the gateway's bridge device.

Layer: ``bridge.ocf`` (no sockets: it reads a ``SecuredDevice``'s SVRs and fills a
``Keyring``). When ``[ocf] secure_virtual_devices`` is on, the gateway's bridge device
(``oic.d.bridge``) is a secured OCF device of its own. An external onboarding tool that owns it
can provision a pairwise credential between the gateway and a device the tool owns: one PSK
credential on that device (subject: the bridge device's uuid) and the same key on the bridge
device's ``/oic/sec/cred`` (subject: the device's uuid). Every such credential on the bridge
device becomes the gateway's client key for that device, the bridge device's uuid its PSK
identity; the OCF side then bridges the device over coaps like one it owns itself
(docs/ocf.md, "Devices owned by another onboarding tool").

Not client keys: the owner's own credential (subject ``devowneruuid`` or ``rowneruuid``) and
anything while the bridge device is not owned. The keys follow every change of the bridge
device's SVRs (a new credential, a deleted one, a reset).
"""

from __future__ import annotations

import logging
import uuid

from bridge.ocf import svr
from bridge.ocf.keyring import Keyring
from bridge.ocf.svr_device import SecuredDevice

log = logging.getLogger("ocfaj.ocf.keys")


def provisioned_keys(state: svr.SecureState) -> dict[uuid.UUID, bytes]:
    """server uuid -> pairwise PSK, from the credentials an owner put on the bridge device."""
    if not state.owned or state.state not in (svr.DeviceState.RFPRO, svr.DeviceState.RFNOP):
        return {}
    owners = {state.devowner, state.rowner, state.device, svr.NIL}
    return {cred.subject: cred.key for cred in state.creds
            if cred.credtype == svr.CREDTYPE_PSK and cred.subject not in owners
            and len(cred.key) in (16, 32)}


class ProvisionedKeys:
    """Keeps ``keyring``'s provided keys equal to what ``bridge``'s cred resource holds."""

    def __init__(self, bridge: SecuredDevice, keyring: Keyring) -> None:
        self.bridge = bridge
        self.keyring = keyring
        bridge.listeners.append(self.update)
        self.update()

    def update(self) -> None:
        keys = provisioned_keys(self.bridge.state)
        before = self.keyring.provided()
        self.keyring.provide(self.bridge.state.device, keys)
        for device in sorted(keys.keys() - before):
            log.info("the onboarding tool that owns the bridge device provisioned a key for "
                     "OCF device %s; it is bridged over coaps as %s", device,
                     self.bridge.state.device)
        for device in sorted(before - keys.keys()):
            log.info("the key for OCF device %s provisioned on the bridge device is gone",
                     device)

    def close(self) -> None:
        if self.update in self.bridge.listeners:
            self.bridge.listeners.remove(self.update)
        self.keyring.provide(self.bridge.state.device, {})
