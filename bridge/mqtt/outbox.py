"""The persistent outbox: every QoS 1 message waits here until the broker acknowledged it.

Layer: ``bridge.mqtt`` (stdlib ``sqlite3`` only; no MQTT client, no asyncio). The side appends
(:meth:`Outbox.append`), the broker link reads the oldest messages (:meth:`Outbox.peek`),
publishes them and deletes what the broker acknowledged (:meth:`Outbox.remove_through`). So a
message lives in exactly one place, the database file, from the moment it is accepted until its
PUBACK: a broker restart, a gateway restart or ``kill -9`` during an outage loses nothing that
was committed (and unacknowledged messages are sent again: at-least-once, like QoS 1 itself).

Durability: SQLite in WAL mode with ``synchronous=NORMAL``: a committed transaction survives
the process being killed at any instant; after a power cut the last transactions before it may
be lost (the price of not calling fsync for every batch). Appends are committed in batches by
the caller (once per event-loop turn), which keeps the hot path at tens of thousands of appends
per second on a Raspberry Pi-class board.

Bounds: at most ``max_messages`` messages and ``max_bytes`` bytes (topic + payload); beyond
either the oldest messages are dropped first, counted and logged. Messages marked ``coalesce``
(retained state snapshots) replace a queued message of the same topic: state is idempotent, so
only the newest snapshot matters; events are never coalesced.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("ocfaj.mqtt.outbox")

FILE_NAME = "mqtt-outbox.sqlite3"
_DROP_LOG_INTERVAL = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    replaceable INTEGER NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_coalesce ON outbox (topic) WHERE replaceable = 1;
"""


@dataclass(frozen=True)
class Message:
    """One message to publish."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    #: a newer message for the same topic replaces this one while it is queued.
    coalesce: bool = False

    @property
    def size(self) -> int:
        return len(self.topic.encode()) + len(self.payload)


@dataclass(frozen=True)
class Queued:
    """A message in the outbox with its position (``seq`` grows and is never reused)."""

    seq: int
    message: Message


class Outbox:
    """A bounded FIFO of messages in one SQLite file. Call :meth:`open` before anything else."""

    def __init__(self, path: Path, *, max_messages: int, max_bytes: int) -> None:
        self.path = path
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        #: messages dropped by the bounds since this object was opened.
        self.dropped = 0
        self._count = 0
        self._bytes = 0
        self._db: sqlite3.Connection | None = None
        self._drops_unlogged = 0
        self._last_drop_log = 0.0

    # -- lifecycle -----------------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) the database; a corrupt file is moved aside, never silently reused."""
        if self._db is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as err:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.error("MQTT outbox %s is unreadable (%s): moved it to %s and started an empty one",
                      self.path, err, aside)
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._db = self._connect()
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        self._count, self._bytes = int(row[0]), int(row[1])
        if self._count:
            log.info("MQTT outbox holds %d messages (%d bytes) from before: they are sent first",
                     self._count, self._bytes)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        if self._db is None:
            return
        self._log_drops(force=True)
        self._db.commit()
        self._db.close()
        self._db = None

    @property
    def is_open(self) -> bool:
        return self._db is not None

    # -- queue ---------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return self._count

    @property
    def size(self) -> int:
        return self._bytes

    def append(self, message: Message) -> None:
        """Queue ``message`` (visible to :meth:`peek` at once, durable after :meth:`commit`)."""
        db = self._require()
        size = message.size
        if size > self.max_bytes:
            self._count_drops(1)
            return
        if message.coalesce:
            for (gone,) in db.execute(
                    "DELETE FROM outbox WHERE replaceable = 1 AND topic = ? RETURNING size",
                    (message.topic,)).fetchall():
                self._count -= 1
                self._bytes -= gone
        db.execute("INSERT INTO outbox (topic, payload, qos, retain, replaceable, size) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   (message.topic, message.payload, message.qos, int(message.retain),
                    int(message.coalesce), size))
        self._count += 1
        self._bytes += size
        if self._count > self.max_messages or self._bytes > self.max_bytes:
            self._enforce_bounds()

    def _enforce_bounds(self) -> None:
        db = self._require()
        while self._count > self.max_messages or self._bytes > self.max_bytes:
            excess = max(1, self._count - self.max_messages)
            sizes = db.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY "
                               "seq LIMIT ?) RETURNING size", (excess,)).fetchall()
            if not sizes:
                break
            self._count -= len(sizes)
            self._bytes -= sum(s for (s,) in sizes)
            self._count_drops(len(sizes))

    def _count_drops(self, n: int) -> None:
        self.dropped += n
        self._drops_unlogged += n
        self._log_drops()

    def _log_drops(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._drops_unlogged and (force or now - self._last_drop_log >= _DROP_LOG_INTERVAL):
            log.warning("MQTT outbox full (%d messages / %d bytes allowed): dropped the %d oldest "
                        "messages (%d in total); the broker has been unreachable too long",
                        self.max_messages, self.max_bytes, self._drops_unlogged, self.dropped)
            self._drops_unlogged = 0
            self._last_drop_log = now

    def commit(self) -> None:
        """Make every append so far durable."""
        self._require().commit()

    def peek(self, limit: int) -> list[Queued]:
        """The ``limit`` oldest messages, oldest first."""
        rows = self._require().execute(
            "SELECT seq, topic, payload, qos, retain, replaceable FROM outbox ORDER BY seq LIMIT ?",
            (limit,)).fetchall()
        return [Queued(seq, Message(topic, bytes(payload), qos, bool(retain), bool(coalesce)))
                for seq, topic, payload, qos, retain, coalesce in rows]

    def remove_through(self, seq: int) -> None:
        """Delete every message up to and including ``seq`` (acknowledged), and commit."""
        db = self._require()
        sizes = db.execute("DELETE FROM outbox WHERE seq <= ? RETURNING size", (seq,)).fetchall()
        self._count -= len(sizes)
        self._bytes -= sum(s for (s,) in sizes)
        db.commit()
        self._log_drops()

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the MQTT outbox is not open")
        return self._db
