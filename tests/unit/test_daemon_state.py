"""The state directory: atomic writes, backup, recovery from truncated or corrupt files."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest

from bridge.core.identity import IdentityBook
from bridge.daemon.state import IDENTITIES, StateStore


def _book() -> tuple[IdentityBook, bytes]:
    book = IdentityBook()
    _, ident = book.for_ocf_device(str(uuid.uuid4()), "piid-1", "")
    return book, ident.app_id


def test_save_and_load(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    store.prepare()
    book, app_id = _book()
    store.save_identities(book)
    loaded = store.load_identities()
    assert loaded.for_ocf_device(str(uuid.uuid4()), "piid-1", "")[1].app_id == app_id
    assert not list((tmp_path / "state").glob(".*tmp"))


def test_the_book_is_saved_compact_and_loads_back(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.prepare()
    book = IdentityBook()
    for k in range(50):
        book.for_ocf_device(str(uuid.uuid4()), f"piid-{k}", "")
    store.save_identities(book)
    text = (tmp_path / IDENTITIES).read_text()
    assert "\n" not in text and ", " not in text and ": " not in text
    assert json.loads(text) == book.to_json()
    assert store.load_identities().to_json() == book.to_json()


@pytest.mark.parametrize("damage", [b"", b'{"version": 1, "identit', b"\xff\xfe", b"[]"])
def test_damaged_file_recovers_from_backup(tmp_path: Path, damage: bytes,
                                           caplog: pytest.LogCaptureFixture) -> None:
    store = StateStore(tmp_path)
    book, app_id = _book()
    store.save_identities(book)
    book.friendly_name("ocf:piid-1", "lamp")
    store.save_identities(book)  # the first version is now the backup
    (tmp_path / IDENTITIES).write_bytes(damage)
    with caplog.at_level(logging.WARNING):
        loaded = store.load_identities()
    assert loaded.for_ocf_device(str(uuid.uuid4()), "piid-1", "")[1].app_id == app_id
    assert "recovered identities from the backup" in caplog.text


def test_both_files_broken_starts_fresh(tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / IDENTITIES).write_text("nope")
    (tmp_path / (IDENTITIES + ".bak")).write_text("{}")
    with caplog.at_level(logging.ERROR):
        book = StateStore(tmp_path).load_identities()
    assert json.dumps(book.to_json()) == json.dumps({"version": 1, "identities": {}})
    assert "starting with new identities" in caplog.text


def test_two_successive_corruptions_keep_the_identities(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    store = StateStore(tmp_path)
    book, app_id = _book()
    book.set_friendly_name("ocf:piid-1", "kitchen_lamp")
    store.save_identities(book)
    store.save_identities(book)  # main and backup both hold the renamed device
    main = tmp_path / IDENTITIES
    main.write_bytes(b"\x00\xff" * 8)  # first corruption (power cut)
    recovered = store.load_identities()
    recovered.for_ocf_device(str(uuid.uuid4()), "piid-2", "")
    with caplog.at_level(logging.WARNING):
        store.save_identities(recovered)  # the corrupt file must not become the backup
    assert json.loads((tmp_path / (IDENTITIES + ".bak")).read_text())["identities"]
    main.write_bytes(b'{"version": 1, "identit')  # second corruption before another save
    again = store.load_identities()
    assert again.for_ocf_device(str(uuid.uuid4()), "piid-1", "")[1].app_id == app_id
    assert again.friendly_name("ocf:piid-1", "other") == "kitchen_lamp"
    assert "not keeping" in caplog.text and "does not load" in caplog.text


def test_a_good_file_still_becomes_the_backup(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    book, _ = _book()
    store.save_identities(book)
    book.set_friendly_name("ocf:piid-1", "hall")
    store.save_identities(book)
    backup = json.loads((tmp_path / (IDENTITIES + ".bak")).read_text())["identities"]
    assert "friendly_name" not in backup["ocf:piid-1"]
    book.set_friendly_name("ocf:piid-1", "porch")
    store.save_identities(book)
    backup = json.loads((tmp_path / (IDENTITIES + ".bak")).read_text())["identities"]
    assert backup["ocf:piid-1"]["friendly_name"] == "hall"
