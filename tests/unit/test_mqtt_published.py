"""The record of retained MQTT topics per device (issue 13 point 6 across restarts): it
survives a new process, never hands out a topic another device holds, lives in memory where
the state directory is read-only, and a broken file or a failed write never stops the side.
Real files in the test's temporary directory."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bridge.mqtt.published import FILE_NAME, PublishedTopics

LAMP = "ocf:11111111-0000-4000-8000-000000000001"
SENSOR = "ocf:11111111-0000-4000-8000-000000000002"


def test_the_record_survives_and_forget_keeps_topics_of_others(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    record = PublishedTopics(path)
    record.add(LAMP, "ocfaj/lamp")
    record.add(LAMP, "ocfaj/lamp/availability")
    record.add(SENSOR, "ocfaj/sensor")
    record.drop(LAMP, "ocfaj/lamp/availability")
    record.save()
    assert not record.dirty
    assert json.loads(path.read_text()) == {
        "version": 1, "things": {LAMP: ["ocfaj/lamp"], SENSOR: ["ocfaj/sensor"]}}

    later = PublishedTopics(path)
    later.load()
    assert later.topics(LAMP) == {"ocfaj/lamp"}
    # The sensor took the lamp's freed name in this run: forgetting the lamp leaves it alone.
    later.add(SENSOR, "ocfaj/lamp")
    assert later.held_elsewhere(LAMP, "ocfaj/lamp")
    assert later.forget(LAMP) == frozenset()
    assert later.things() == [SENSOR]


def test_in_memory_where_it_may_not_write(tmp_path: Path) -> None:
    record = PublishedTopics(tmp_path / FILE_NAME, persistent=False)
    record.add(LAMP, "ocfaj/lamp")
    record.save()
    assert not (tmp_path / FILE_NAME).exists()
    assert record.forget(LAMP) == {"ocfaj/lamp"}


def test_a_failed_write_is_said_once_and_tried_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "ocfaj.mqtt")
    missing = tmp_path / "not-yet"
    record = PublishedTopics(missing / FILE_NAME)
    record.add(LAMP, "ocfaj/lamp")
    record.save()
    record.add(LAMP, "ocfaj/lamp/availability")
    record.save()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "kept in memory" in errors[0].getMessage()
    assert record.dirty
    missing.mkdir()
    record.save()
    assert not record.dirty
    assert json.loads((missing / FILE_NAME).read_text())["things"][LAMP] == [
        "ocfaj/lamp", "ocfaj/lamp/availability"]
    assert "written again" in caplog.text


def test_a_broken_file_gives_an_empty_record(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / FILE_NAME
    path.write_text('{"version": 1, "things": ')
    record = PublishedTopics(path)
    record.load()
    assert record.things() == []
    assert "unreadable" in caplog.text
