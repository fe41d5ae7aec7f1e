"""Identity derivation and the persisted identity book."""

from __future__ import annotations

import uuid

import pytest

from bridge.core.identity import IdentityBook

DEVICE_ID = "0ce43c8b-b997-4a05-b77d-1c92e01fe7ae"
APP_ID = bytes.fromhex("46e80bf89ff5478abe9f7fa34adc497b")


def test_alljoyn_device_gets_vector_piid() -> None:
    thing_id, ident = IdentityBook().for_alljoyn_device(DEVICE_ID, APP_ID)
    assert thing_id == f"alljoyn:{DEVICE_ID}:{APP_ID.hex()}"
    assert ident.piid == "deb82703-2778-5edf-ab22-105455bb4cfa"
    assert ident.di == str(uuid.UUID(bytes=APP_ID))
    assert ident.pi == DEVICE_ID


def test_declared_piid_wins() -> None:
    declared = "11111111-2222-3333-4444-555555555555"
    _, ident = IdentityBook().for_alljoyn_device(DEVICE_ID, APP_ID,
                                                 {"org.openconnectivity.piid": declared})
    assert ident.piid == declared


def test_ocf_device_keeps_app_id_when_di_changes() -> None:
    book = IdentityBook()
    piid = str(uuid.uuid4())
    first_di, second_di = str(uuid.uuid4()), str(uuid.uuid4())
    id1, ident1 = book.for_ocf_device(first_di, piid, "")
    id2, ident2 = book.for_ocf_device(second_di, piid, "")
    assert id1 == id2 == f"ocf:{piid}"
    assert ident1.app_id == uuid.UUID(first_di).bytes
    assert ident2.app_id == ident1.app_id
    assert ident2.di == second_di


def test_book_survives_serialisation() -> None:
    book = IdentityBook()
    thing_id, ident = book.for_ocf_device(str(uuid.uuid4()), str(uuid.uuid4()), "")
    name = book.friendly_name(thing_id, "Living Room Lamp")
    assert book.dirty
    restored = IdentityBook.from_json(book.to_json())
    assert not book.dirty
    _, again = restored.for_ocf_device("ffffffff-ffff-ffff-ffff-ffffffffffff", ident.piid, "")
    assert again.app_id == ident.app_id
    assert restored.friendly_name(thing_id, "renamed") == name == "living_room_lamp"


def test_friendly_names_are_unique() -> None:
    book = IdentityBook()
    assert book.friendly_name("a", "Lamp") == "lamp"
    assert book.friendly_name("b", "Lamp") == "lamp_2"
    assert book.friendly_name("c", "!!!") == "device"


def test_names_freed_by_forget_or_rename_are_taken_again() -> None:
    # The names in use are counted as entries change, not searched for each new device.
    book = IdentityBook()
    assert book.friendly_name("a", "Lamp") == "lamp"
    assert book.friendly_name("b", "Lamp") == "lamp_2"
    book.forget("a")
    assert book.friendly_name("c", "Lamp") == "lamp"
    book.set_friendly_name("b", "porch")
    assert book.friendly_name("d", "Lamp") == "lamp_2"
    assert book.friendly_name("e", "Porch") == "porch_2"
    book.forget_friendly_name("c")
    restored = IdentityBook.from_json(book.to_json())
    assert restored.friendly_name("f", "Lamp") == "lamp"
    assert restored.friendly_name("g", "Lamp") == "lamp_3"
    names = [restored.friendly_name(k, "") for k in "bdefg"]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("doc", [None, {}, {"version": 2}, {"version": 1},
                                 {"version": 1, "identities": {"x": {"a": 1}}}])
def test_malformed_books_are_refused(doc: object) -> None:
    with pytest.raises(ValueError):
        IdentityBook.from_json(doc)  # type: ignore[arg-type]
