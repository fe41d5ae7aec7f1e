"""The outbox writer: events are durable at the end of their loop turn; retained snapshots of
a stream are batched, newest per topic, without changing the order of acceptance."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bridge.mqtt.outbox import Message, Outbox
from bridge.mqtt.writer import OutboxWriter
from bridge.sim.testing.procs import await_until


def _outbox(tmp_path: Path) -> Outbox:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_messages=1000, max_bytes=1 << 20)
    outbox.open()
    return outbox


def _durable(path: Path) -> list[tuple[str, bytes]]:
    """What another connection sees: only committed rows."""
    with sqlite3.connect(path) as db:
        return list(db.execute("SELECT topic, payload FROM outbox ORDER BY seq"))


def snapshot(n: int, topic: str = "ocfaj/lamp") -> Message:
    return Message(topic, str(n).encode(), retain=True, coalesce=True)


def event(n: int) -> Message:
    return Message("ocfaj/lamp/event", str(n).encode())


async def test_event_is_durable_at_the_end_of_its_turn(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    commits: list[int] = []
    writer = OutboxWriter(outbox, lambda: commits.append(outbox.count), interval=10.0)
    writer.accept(event(1))
    await asyncio.sleep(0)  # the end of the turn that accepted it
    assert _durable(outbox.path) == [("ocfaj/lamp/event", b"1")]
    assert commits == [1]


async def test_a_stream_of_snapshots_commits_once_per_interval_newest_wins(
        tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    commits: list[int] = []
    writer = OutboxWriter(outbox, lambda: commits.append(outbox.count), interval=0.2)
    writer.accept(snapshot(0))
    await asyncio.sleep(0)  # an isolated snapshot is committed at the end of its turn
    assert _durable(outbox.path) == [("ocfaj/lamp", b"0")]
    for n in range(1, 50):  # a stream: one notification per loop turn
        writer.accept(snapshot(n))
        await asyncio.sleep(0)
    assert len(commits) == 1 and writer.waiting == 1
    await asyncio.sleep(0.3)
    assert len(commits) == 2 and writer.waiting == 0
    # the outbox itself replaces the older queued snapshot of the same topic
    assert _durable(outbox.path)[-1] == ("ocfaj/lamp", b"49")
    assert ("ocfaj/lamp", b"25") not in _durable(outbox.path)


async def test_an_event_lands_behind_the_snapshots_accepted_before_it(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    writer = OutboxWriter(outbox, lambda: None, interval=10.0)
    writer.accept(snapshot(1))
    await asyncio.sleep(0)
    writer.accept(snapshot(2, "ocfaj/other"))
    writer.accept(snapshot(3))
    writer.accept(event(4))
    await asyncio.sleep(0)
    assert [payload for _, payload in _durable(outbox.path)] == [b"2", b"3", b"4"]


async def test_flush_writes_what_waits(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    writer = OutboxWriter(outbox, lambda: None, interval=10.0)
    writer.accept(snapshot(1))
    await asyncio.sleep(0)
    writer.accept(snapshot(2))
    assert writer.waiting == 1
    writer.flush()
    assert writer.waiting == 0
    assert _durable(outbox.path) == [("ocfaj/lamp", b"2")]
    outbox.close()
    writer.accept(snapshot(3))
    writer.flush()  # a closed outbox: nothing is written, nothing raises
    assert writer.waiting == 0


async def test_a_snapshot_accepted_as_its_builder_is_built_only_when_written(
        tmp_path: Path) -> None:
    # A stream of states of one topic: only the newest is ever built, at the commit, and what
    # it builds is the state at that moment; one that builds nothing is not written.
    outbox = _outbox(tmp_path)
    writer = OutboxWriter(outbox, lambda: None, interval=10.0)
    built: list[int] = []
    state = {"n": 0}

    def render() -> Message:
        built.append(state["n"])
        return snapshot(state["n"])

    writer.accept(snapshot(0))
    await asyncio.sleep(0)  # committed at the end of its turn: the stream starts after it
    for n in range(1, 200):
        state["n"] = n
        writer.accept_later("ocfaj/lamp", render)
        await asyncio.sleep(0)
    assert built == [] and writer.waiting == 1
    state["n"] = 250
    writer.accept_later("ocfaj/other", lambda: None)
    writer.flush()
    assert built == [250]
    assert _durable(outbox.path) == [("ocfaj/lamp", b"250")]


async def test_an_event_writes_the_builders_waiting_before_it_in_order(tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    writer = OutboxWriter(outbox, lambda: None, interval=10.0)
    writer.accept(snapshot(1))
    await asyncio.sleep(0)
    writer.accept_later("ocfaj/other", lambda: snapshot(2, "ocfaj/other"))
    writer.accept(snapshot(3))
    writer.accept_later("ocfaj/other", lambda: snapshot(4, "ocfaj/other"))
    writer.accept(event(5))
    await asyncio.sleep(0)
    # the outbox replaces the committed snapshot 1 with 3 (same topic), as for messages
    assert [payload for _, payload in _durable(outbox.path)] == [b"3", b"4", b"5"]


async def test_an_acknowledgement_rides_on_the_next_commit_or_is_committed_alone(
        tmp_path: Path) -> None:
    outbox = _outbox(tmp_path)
    commits: list[int] = []
    writer = OutboxWriter(outbox, lambda: commits.append(outbox.count), interval=0.05)
    writer.accept(event(1))
    writer.accept(event(2))
    await asyncio.sleep(0)
    assert len(commits) == 1
    # The link acknowledges the first: deleted now, committed with the next event's turn.
    assert outbox.acknowledge(outbox.peek(10)[0].seq)
    writer.acknowledged()
    writer.accept(event(3))
    await asyncio.sleep(0)
    assert len(commits) == 2
    assert _durable(outbox.path) == [("ocfaj/lamp/event", b"2"), ("ocfaj/lamp/event", b"3")]
    # An acknowledgement with nothing after it is committed on its own within the interval.
    assert outbox.acknowledge(outbox.peek(10)[-1].seq)
    writer.acknowledged()
    await await_until(lambda: not _durable(outbox.path), 10.0, message="delete committed")
    assert len(commits) == 3
