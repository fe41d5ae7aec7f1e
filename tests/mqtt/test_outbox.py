"""The SQLite outbox on its own: order, coalescing, bounds, persistence, a corrupt file."""

from __future__ import annotations

import contextlib
import logging
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.mqtt.outbox import Message, Outbox


def opened(path: Path, max_messages: int = 1000, max_bytes: int = 10**6) -> Outbox:
    box = Outbox(path / "outbox.sqlite3", max_messages=max_messages, max_bytes=max_bytes)
    box.open()
    return box


def event(n: int) -> Message:
    return Message("gw/dev/event", f'{{"n":{n}}}'.encode(), 1)


def test_fifo_and_acknowledged_prefix(tmp_path: Path) -> None:
    box = opened(tmp_path)
    for n in range(5):
        box.append(event(n))
    box.commit()
    batch = box.peek(3)
    assert [q.message.payload for q in batch] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    box.remove_through(batch[1].seq)
    assert [q.message.payload for q in box.peek(10)] == [b'{"n":2}', b'{"n":3}', b'{"n":4}']
    assert box.count == 3
    box.close()


def test_state_snapshots_coalesce_but_events_never(tmp_path: Path) -> None:
    box = opened(tmp_path)
    box.append(Message("gw/lamp", b"1", retain=True, coalesce=True))
    box.append(event(1))
    box.append(Message("gw/lamp", b"2", retain=True, coalesce=True))
    box.append(event(1))
    assert [(q.message.topic, q.message.payload) for q in box.peek(10)] == [
        ("gw/dev/event", b'{"n":1}'), ("gw/lamp", b"2"), ("gw/dev/event", b'{"n":1}')]
    assert box.count == 3 and box.size == sum(q.message.size for q in box.peek(10))
    box.close()


def test_bounds_drop_the_oldest_and_say_so(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    box = opened(tmp_path, max_messages=10)
    with caplog.at_level(logging.WARNING, "ocfaj.mqtt.outbox"):
        for n in range(25):
            box.append(event(n))
    assert box.count == 10 and box.dropped == 15
    assert [q.message.payload for q in box.peek(1)] == [b'{"n":15}']
    assert any("dropped" in r.message for r in caplog.records)
    box.close()
    by_bytes = opened(tmp_path / "b", max_bytes=100)
    for n in range(20):
        by_bytes.append(event(n))
    assert by_bytes.size <= 100 and by_bytes.dropped == 20 - by_bytes.count
    assert by_bytes.peek(100)[-1].message.payload == b'{"n":19}'
    by_bytes.close()


def test_committed_messages_survive_reopening(tmp_path: Path) -> None:
    box = opened(tmp_path)
    for n in range(3):
        box.append(event(n))
    box.commit()
    box.close()
    again = opened(tmp_path)
    assert again.count == 3
    assert [q.message.payload for q in again.peek(10)] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    # Positions are never reused, even after the queue ran empty.
    last = again.peek(10)[-1].seq
    again.remove_through(last)
    again.append(event(9))
    assert again.peek(1)[0].seq > last
    again.close()


def test_a_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / "outbox.sqlite3").write_bytes(b"this is no database" * 100)
    box = opened(tmp_path)
    assert box.count == 0
    assert list(tmp_path.glob("outbox.sqlite3.corrupt-*"))
    box.close()


def test_replay_throughput_of_the_store(tmp_path: Path) -> None:
    # Not a timing assertion: it shows the store handles a 20,000 message backlog in batches.
    box = opened(tmp_path, max_messages=100_000)
    started = time.monotonic()
    for n in range(20_000):
        box.append(event(n))
    box.commit()
    seen = 0
    while batch := box.peek(500):
        seen += len(batch)
        box.remove_through(batch[-1].seq)
    assert seen == 20_000 and box.count == 0
    print(f"store: 20,000 messages in and out in {time.monotonic() - started:.2f} s")
    box.close()


_CRASH_AFTER_ACK = """
import os, signal, sys
from pathlib import Path
from bridge.mqtt.outbox import Message, Outbox
box = Outbox(Path(sys.argv[1]), max_messages=1000, max_bytes=10**6)
box.open()
batch = box.peek(10)
assert box.acknowledge(batch[1].seq)  # acknowledged, delete not committed yet
assert box.count == 1
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_crash_between_acknowledgement_and_commit_sends_again_and_loses_nothing(
        tmp_path: Path) -> None:
    box = opened(tmp_path)
    for n in range(3):
        box.append(event(n))
    box.commit()
    box.close()
    # A real process killed after the link's acknowledgement, before the next transaction.
    crash = subprocess.run([sys.executable, "-c", _CRASH_AFTER_ACK,
                            str(tmp_path / "outbox.sqlite3")], check=False)
    assert crash.returncode == -signal.SIGKILL
    again = opened(tmp_path)
    # At-least-once: the acknowledged messages are sent again, nothing is lost.
    assert [q.message.payload for q in again.peek(10)] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    again.close()


def test_an_acknowledgement_is_committed_with_the_next_appends(tmp_path: Path) -> None:
    box = opened(tmp_path)
    for n in range(3):
        box.append(event(n))
    box.commit()
    assert box.acknowledge(box.peek(10)[1].seq)
    # Gone for the link at once; durable only with the next transaction.
    assert [q.message.payload for q in box.peek(10)] == [b'{"n":2}'] and box.count == 1
    assert _committed_payloads(box.path) == [b'{"n":0}', b'{"n":1}', b'{"n":2}']
    box.append(event(3))
    box.commit()
    assert _committed_payloads(box.path) == [b'{"n":2}', b'{"n":3}']
    box.close()


def test_a_snapshot_queued_before_a_restart_is_replaced_after_it(tmp_path: Path) -> None:
    box = opened(tmp_path)
    box.append(Message("gw/lamp", b"1", retain=True, coalesce=True))
    box.append(event(1))
    box.commit()
    box.close()
    again = opened(tmp_path)
    again.append(Message("gw/lamp", b"2", retain=True, coalesce=True))
    assert [(q.message.topic, q.message.payload) for q in again.peek(10)] == [
        ("gw/dev/event", b'{"n":1}'), ("gw/lamp", b"2")]
    assert again.count == 2 and again.size == sum(q.message.size for q in again.peek(10))
    # A snapshot already acknowledged is not deleted twice: the next one is simply queued.
    again.acknowledge(again.peek(10)[-1].seq)
    again.append(Message("gw/lamp", b"3", retain=True, coalesce=True))
    assert [q.message.payload for q in again.peek(10)] == [b"3"] and again.count == 1
    again.close()


def _committed_payloads(path: Path) -> list[bytes]:
    """What another connection sees: only committed rows."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [bytes(p) for (p,) in db.execute("SELECT payload FROM outbox ORDER BY seq")]
