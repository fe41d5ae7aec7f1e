"""Issue 16 point 4, the pure part: which credentials on the gateway's bridge device become
client keys (pairwise ones, not the owner's, only while owned), under which identity the
keyring answers with them, and that the keys of devices the gateway owns win."""

from __future__ import annotations

import uuid

from bridge.ocf import svr
from bridge.ocf.keyring import Keyring
from bridge.ocf.provisioned import ProvisionedKeys, provisioned_keys
from bridge.ocf.sec_keys import nul_free_uuid
from bridge.ocf.svr_device import SecuredDevice


def owned_bridge(device: uuid.UUID, owner: uuid.UUID, state: svr.DeviceState
                 ) -> svr.SecureState:
    bridge = svr.SecureState(device, owned=True, devowner=owner, rowner=owner, state=state)
    bridge.creds.append(svr.Credential(1, owner, b"o" * 16))
    return bridge


def test_only_pairwise_credentials_of_an_owned_bridge_device_are_client_keys() -> None:
    device, owner, light, lock = (nul_free_uuid() for _ in range(4))
    bridge = owned_bridge(device, owner, svr.DeviceState.RFNOP)
    bridge.creds += [svr.Credential(2, light, b"l" * 16), svr.Credential(3, lock, b"k" * 32),
                     svr.Credential(4, nul_free_uuid(), b"c" * 16, credtype=8)]
    assert provisioned_keys(bridge) == {light: b"l" * 16, lock: b"k" * 32}
    bridge.state = svr.DeviceState.RFOTM
    assert provisioned_keys(bridge) == {}
    bridge.state, bridge.owned = svr.DeviceState.RFNOP, False
    assert provisioned_keys(bridge) == {}


def test_the_keyring_answers_a_provided_server_with_the_bridge_uuid() -> None:
    gateway, bridge_uuid, light, mine = (nul_free_uuid() for _ in range(4))
    keyring = Keyring(gateway, {mine: b"m" * 16})
    keyring.provide(bridge_uuid, {light: b"l" * 16, mine: b"x" * 16})
    assert keyring.choose(None, light.bytes) == (bridge_uuid.bytes, b"l" * 16)
    assert keyring.choose(None, mine.bytes) == (gateway.bytes, b"m" * 16)
    assert keyring.holds(str(light)) and len(keyring) == 2
    keyring.replace({})  # the credential store changed: the provided keys stay
    assert keyring.holds(str(light))
    assert keyring.choose(None, mine.bytes) == (bridge_uuid.bytes, b"x" * 16)
    keyring.provide(bridge_uuid, {})
    assert keyring.choose(None, light.bytes) is None and len(keyring) == 0


def test_the_keys_follow_the_bridge_device_through_provisioning_and_a_reset() -> None:
    owner, light = nul_free_uuid(), nul_free_uuid()
    state = owned_bridge(nul_free_uuid(), owner, svr.DeviceState.RFPRO)
    bridge = SecuredDevice(state, "bridge device")
    keyring = Keyring(nul_free_uuid())
    follower = ProvisionedKeys(bridge, keyring)
    assert len(keyring) == 0
    state.post(svr.CRED, {"creds": [{"subjectuuid": str(light), "credtype": 1,
                                     "privatedata": {"data": b"l" * 16}}]}, ownership=False)
    bridge.changed()
    assert keyring.choose(None, light.bytes) == (state.device.bytes, b"l" * 16)
    bridge.reset()
    assert not keyring.holds(str(light))
    follower.close()
    assert follower.update not in bridge.listeners
