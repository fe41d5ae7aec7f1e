"""The pure access rules of ``bridge.ocf.svr`` that issue 17 added or relies on, and the saved
form of a device's SVRs (``bridge.ocf.svr_store``): ACEs by interface, wildcards that never
cover an SVR, role subjects refused, client identities cut at a zero byte, a reset back to
the first uuid, and a document that gives back the same state."""

from __future__ import annotations

import uuid

import pytest

from bridge.ocf import svr
from bridge.ocf.svr_device import c_string
from bridge.ocf.svr_store import from_document, to_document

FIRST = uuid.UUID("46e80bf8-9ff5-478a-be9f-7fa34adc497b")
OWNER = uuid.UUID(bytes=bytes(range(0x11, 0x21)))
# A client uuid with a zero byte: OpenSSL hands the server only the bytes before it.
CLIENT = uuid.UUID(bytes=bytes([0x41, 0x42, 0x43, 0]) + bytes(range(0x51, 0x5D)))


def owned_state() -> svr.SecureState:
    state = svr.SecureState(FIRST, first_device=FIRST, owned=True, devowner=OWNER,
                            rowner=OWNER, state=svr.DeviceState.RFNOP, oxmsel=svr.RANDOM_PIN)
    state.creds = [svr.Credential(1, OWNER, bytes(16)), svr.Credential(2, CLIENT, b"k" * 16)]
    return state


def allowed(state: svr.SecureState, path: str, permission: int,
            interfaces: tuple[str, ...] = ()) -> bool:
    try:
        state.check(path, permission, secure=True, subject=CLIENT, ownership=False,
                    interfaces=interfaces)
    except svr.SvrRefused as err:
        assert err.code == 403
        return False
    return True


def test_a_wildcard_ace_covers_resources_but_never_an_svr() -> None:
    state = owned_state()
    state.acl = [svr.ace_of({"subject": {"uuid": str(CLIENT)}, "resources": [{"wc": "*"}],
                             "permission": svr.READ | svr.UPDATE}, 1)]
    assert allowed(state, "/switch", svr.UPDATE)
    assert not allowed(state, "/switch", svr.READ | svr.NOTIFY)  # no notify granted
    for path in (svr.CRED, svr.ACL2, svr.DOXM, svr.PSTAT):
        assert not allowed(state, path, svr.READ)
    state.acl.append(svr.ace_of({"subject": {"uuid": str(CLIENT)},
                                 "resources": [{"href": svr.ACL2}], "permission": svr.READ}, 2))
    assert allowed(state, svr.ACL2, svr.READ)  # named, it is granted


def test_an_ace_by_interface_covers_the_resources_that_offer_it() -> None:
    state = owned_state()
    state.acl = [svr.ace_of({"subject": {"uuid": str(CLIENT)},
                             "resources": [{"if": ["oic.if.a"]}], "permission": svr.UPDATE}, 1)]
    assert allowed(state, "/switch", svr.UPDATE, ("oic.if.a", "oic.if.baseline"))
    assert not allowed(state, "/temperature", svr.UPDATE, ("oic.if.s", "oic.if.baseline"))
    assert state.acl[0].to_cbor()["resources"] == [{"if": ["oic.if.a"]}]


@pytest.mark.parametrize("entry", [
    {"subject": {"role": ""}, "resources": [{"wc": "*"}], "permission": 2},
    {"subject": {"conntype": "anything"}, "resources": [{"wc": "*"}], "permission": 2},
    {"subject": {"uuid": str(CLIENT)}, "resources": [{"rt": ["x"]}], "permission": 2},
    {"subject": {"uuid": str(CLIENT)}, "resources": ["/switch"], "permission": 2},
])
def test_aces_the_device_cannot_enforce_are_refused_with_4_00(entry: dict) -> None:
    with pytest.raises(svr.SvrRefused) as refused:
        svr.ace_of(entry, 1)
    assert refused.value.code == 400


def test_a_client_identity_cut_at_its_zero_byte_names_its_credential() -> None:
    state = owned_state()
    assert c_string(CLIENT.bytes) == b"ABC"
    assert state.subject_of(b"ABC") == CLIENT
    assert state.subject_of(CLIENT.bytes) == CLIENT
    assert state.subject_of(b"AB") is None  # not followed by a zero byte in any subject
    assert state.subject_of(b"") is None


def test_a_reset_returns_to_the_first_uuid_and_forgets_everything() -> None:
    state = owned_state()
    state.device = uuid.uuid4()
    state.post(svr.PSTAT, {"dos": {"s": int(svr.DeviceState.RESET)}}, ownership=False)
    assert state.device == FIRST and not state.owned and state.creds == [] and state.acl == []
    assert state.state == svr.DeviceState.RFOTM and state.rowner == svr.NIL


def test_the_saved_document_gives_back_the_same_state() -> None:
    state = owned_state()
    state.acl = [svr.ace_of({"subject": {"conntype": "auth-crypt"},
                             "resources": [{"href": "/switch"}, {"if": ["oic.if.a"]}],
                             "permission": 6}, 3)]
    state.sdi = {"uuid": str(OWNER), "name": "home", "priv": False}
    again = from_document(to_document(state), first=FIRST)
    assert to_document(again) == to_document(state)
    assert again.key_for(CLIENT) == b"k" * 16 and again.first_device == FIRST
    with pytest.raises(ValueError):
        from_document({**to_document(state), "version": 99}, first=FIRST)
