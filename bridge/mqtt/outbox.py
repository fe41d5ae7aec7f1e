"""The persistent outbox: every QoS 1 message waits here until the broker acknowledged it.

Layer: ``bridge.mqtt`` (stdlib ``sqlite3`` only; no MQTT client, no asyncio). The side appends
(:meth:`Outbox.append`), the broker link reads the oldest messages (:meth:`Outbox.peek`),
publishes them and deletes what the broker acknowledged (:meth:`Outbox.remove_through`). So a
message lives in exactly one place, the database file, from the moment it is accepted until its
PUBACK: a broker restart, a gateway restart or ``kill -9`` during an outage loses nothing that
was committed (and unacknowledged messages are sent again: at-least-once, like QoS 1 itself).

The link acknowledges with :meth:`Outbox.acknowledge`: the delete is made at once (the
messages leave :meth:`peek`, the counts and the bounds) but committed with the next
transaction, the appends of the writer's next cycle, so a stream costs one transaction per
cycle instead of two. A delete not yet committed when the process dies only means that the
restarted gateway sends those messages again: at-least-once holds, nothing committed is lost.
:meth:`Outbox.remove_through` deletes and commits at once (the link's drops of a message the
broker refuses, and any acknowledgement while the disk is full).

Durability: SQLite in WAL mode with ``synchronous=NORMAL``: a committed transaction survives
the process being killed at any instant; after a power cut the last transactions before it may
be lost (the price of not calling fsync for every batch). Appends are committed in batches by
the caller (:mod:`bridge.mqtt.writer`: once per event-loop turn, state snapshots at most every
few milliseconds), which keeps the hot path at tens of thousands of appends per second on a
Raspberry Pi-class board.

Bounds: at most ``max_messages`` messages and ``max_bytes`` bytes (topic + payload); beyond
either the oldest messages are dropped first, counted and logged. Messages marked ``coalesce``
(retained state snapshots) replace a queued message of the same topic: state is idempotent, so
only the newest snapshot matters; events are never coalesced.

A full disk (``SQLITE_FULL``, often the write-ahead log growing on a small state partition) is
a bound too, never an error for the caller: the failed transaction is rolled back, the log is
checkpointed and truncated to give its space back, the appends of that transaction are written
again, and if they still do not fit the oldest messages make room. While the disk is full the
byte bound shrinks to what fitted, so the database file stops growing and reuses the pages of
dropped messages; it is lifted when the outbox has drained. One warning per episode, at its
start, and one line at its end with the number of messages it cost.

Opening tells corruption from a file that merely cannot be opened. Only a file SQLite calls
corrupt (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``: "file is not a database") or whose
``PRAGMA quick_check`` fails is moved aside (``.corrupt-<time>``) for a new one. A state
directory the gateway cannot write (a read-only mount, a directory of another user) gives an
outbox in memory: MQTT works, without persistence, and the log says so. Anything else
(permissions on the file, too many open files, an I/O error) raises
:class:`~bridge.core.errors.StoreUnavailable` with the cause and touches nothing, so the
queued messages are still there when the caller tries again.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bridge.core.errors import StoreUnavailable

log = logging.getLogger("ocfaj.mqtt.outbox")

FILE_NAME = "mqtt-outbox.sqlite3"
_IN_MEMORY = ":memory:"
_DROP_LOG_INTERVAL = 10.0
#: While the disk is full, the byte bound is this share of what the outbox held when a write
#: first failed, so that the next appends reuse freed pages instead of growing the file.
_FULL_DISK_SHARE = 0.9
#: Pages of write-ahead log after which SQLite checkpoints while the disk is full (1000, its
#: default, is 4 MiB: more than a small state partition may have left).
_FULL_DISK_CHECKPOINT = 16

_INSERT = ("INSERT INTO outbox (topic, payload, qos, retain, replaceable, size) "
           "VALUES (?, ?, ?, ?, ?, ?)")
_DELETE_ONE = "DELETE FROM outbox WHERE seq = ?"

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
-- Replaced snapshots are found by seq (Outbox._replaceable): no index on topic to keep.
DROP INDEX IF EXISTS outbox_coalesce;
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
        #: appends since the last commit, written again if a full disk rolls them back.
        self._pending: list[Message] = []
        self._dropped_at_commit = 0
        #: the byte bound a full disk imposes (None: the disk has room).
        self._disk_bound: int | None = None
        #: a full disk was met since the outbox last drained.
        self._disk_full = False
        #: not even an empty outbox fitted, and that was said.
        self._no_room = False
        self._dropped_before_full = 0
        #: the highest acknowledged seq whose delete is not committed yet (-1: none).
        self._acked_uncommitted = -1
        #: seq and size of each queued coalescable message, by topic: a replaced snapshot is
        #: deleted by its key, and a topic with nothing queued costs no statement at all.
        self._replaceable: dict[str, tuple[int, int]] = {}
        #: False when the state directory is read-only and the outbox lives in memory.
        self.persistent = True

    # -- lifecycle -----------------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) the database; see the module docstring for what a failure does.

        Raises :class:`StoreUnavailable` when the file cannot be opened but is not corrupt, and
        ``OSError(ENOSPC)`` when the disk has no room to open it.
        """
        if self._db is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
            self.persistent = True
        except (sqlite3.Error, OSError) as err:
            self._db = self._open_after(err)
        self._recount()
        if self._count:
            log.info("MQTT outbox holds %d messages (%d bytes) from before: they are sent first",
                     self._count, self._bytes)

    def _open_after(self, err: sqlite3.Error | OSError) -> sqlite3.Connection:
        """The database to use after opening the file failed with ``err``, or raise."""
        if isinstance(err, sqlite3.Error) and _is_disk_full(err):
            # Not corruption: the file is fine, there is just no room to open it.
            raise OSError(errno.ENOSPC, f"no room to open the MQTT outbox {self.path}: "
                                        "the disk is full") from err
        directory = self.path.parent
        if _read_only(directory):
            # Checked before corruption: nothing can be moved on a read-only directory anyway.
            kept = f"; {self.path} is left as it is" if self.path.exists() else ""
            log.warning("the state directory %s is read-only for the gateway: the MQTT outbox "
                        "is kept in memory, without persistence (messages queued while the "
                        "broker is unreachable are lost when the gateway stops)%s",
                        directory, kept)
            self.persistent = False
            return self._connect(_IN_MEMORY)
        if not _is_corrupt(err):
            raise StoreUnavailable(str(self.path), _cause(err, self.path)) from err
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        try:
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            db = self._connect()
        except (sqlite3.Error, OSError) as again:
            raise StoreUnavailable(str(self.path), _cause(again, self.path)) from again
        log.error("MQTT outbox %s is corrupt (%s): moved it to %s and started an empty one",
                  self.path, err, aside)
        self.persistent = True
        return db

    def _connect(self, target: Path | str | None = None) -> sqlite3.Connection:
        db = sqlite3.connect(self.path if target is None else target)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise _Corrupt("; ".join(str(p) for p in problems[:3]))
            # A file that opens read-only (a rollback-journal database on a read-only mount)
            # fails here, not at the first append.
            db.execute("BEGIN IMMEDIATE")
            db.rollback()
        except sqlite3.Error:
            db.close()
            raise
        return db

    def close(self) -> None:
        if self._db is None:
            return
        self.commit()
        self._log_drops(force=True)
        self._require().close()
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
        self._require()
        if message.size > self.max_bytes:
            self._count_drops(1)
            return
        self._pending.append(message)
        try:
            self._insert(message)
        except sqlite3.OperationalError as err:
            self._write_failed(err)

    @property
    def _byte_bound(self) -> int:
        if self._disk_bound is None:
            return self.max_bytes
        return min(self.max_bytes, self._disk_bound)

    def _insert(self, message: Message) -> None:
        db = self._require()
        size = message.size
        if message.coalesce:
            queued = self._replaceable.pop(message.topic, None)
            if queued is not None:
                db.execute(_DELETE_ONE, (queued[0],))
                self._count -= 1
                self._bytes -= queued[1]
        seq = db.execute(_INSERT, (message.topic, message.payload, message.qos,
                                   int(message.retain), int(message.coalesce), size)).lastrowid
        if message.coalesce and seq is not None:
            self._replaceable[message.topic] = (seq, size)
        self._count += 1
        self._bytes += size
        if self._count > self.max_messages or self._bytes > self._byte_bound:
            self._enforce_bounds()

    def _enforce_bounds(self) -> None:
        db = self._require()
        while self._count > self.max_messages or self._bytes > self._byte_bound:
            excess = max(1, self._count - self.max_messages)
            gone = db.execute("DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY "
                              "seq LIMIT ?) RETURNING seq, topic, replaceable, size",
                              (excess,)).fetchall()
            if not gone:
                break
            self._forget(gone)
            self._count_drops(len(gone))

    def _count_drops(self, n: int) -> None:
        self.dropped += n
        self._drops_unlogged += n
        self._log_drops()

    def _log_drops(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._disk_full:
            # A full disk has its own lines: at the start and at the end of the episode.
            self._drops_unlogged = 0
            return
        if self._drops_unlogged and (force or now - self._last_drop_log >= _DROP_LOG_INTERVAL):
            log.warning("MQTT outbox full (%d messages / %d bytes allowed): dropped the %d oldest "
                        "messages (%d in total); the broker has been unreachable too long",
                        self.max_messages, self.max_bytes, self._drops_unlogged, self.dropped)
            self._drops_unlogged = 0
            self._last_drop_log = now

    def commit(self) -> None:
        """Make every append so far durable."""
        try:
            self._require().commit()
        except sqlite3.OperationalError as err:
            self._write_failed(err)
            return
        self._committed()

    def _committed(self) -> None:
        self._pending.clear()
        self._dropped_at_commit = self.dropped
        self._acked_uncommitted = -1

    def peek(self, limit: int) -> list[Queued]:
        """The ``limit`` oldest messages, oldest first."""
        db = self._require()
        if self._count == 0:
            return []  # the counts are exact: no query to learn that nothing waits
        rows = db.execute(
            "SELECT seq, topic, payload, qos, retain, replaceable FROM outbox ORDER BY seq LIMIT ?",
            (limit,)).fetchall()
        return [Queued(seq, Message(topic, bytes(payload), qos, bool(retain), bool(coalesce)))
                for seq, topic, payload, qos, retain, coalesce in rows]

    def remove_through(self, seq: int) -> None:
        """Delete every message up to and including ``seq`` (acknowledged), and commit."""
        try:
            self._delete_through(seq)
            self._require().commit()
        except sqlite3.OperationalError as err:
            self._write_failed(err, acknowledged=seq)
        else:
            self._committed()
        if self._count == 0 and self._disk_full:
            self._end_full_disk()
        self._log_drops()

    def acknowledge(self, seq: int) -> bool:
        """Delete every message up to and including ``seq`` (acknowledged) in the open
        transaction: committed by the next :meth:`commit` (module docstring). True when that
        commit is still to be made; while the disk is full it is made here, as
        :meth:`remove_through` does, and the answer is False."""
        if self._disk_full:
            self.remove_through(seq)
            return False
        try:
            self._delete_through(seq)
        except sqlite3.OperationalError as err:
            self._write_failed(err, acknowledged=seq)
            return False
        self._acked_uncommitted = max(self._acked_uncommitted, seq)
        return True

    def _delete_through(self, seq: int) -> None:
        self._forget(self._require().execute(
            "DELETE FROM outbox WHERE seq <= ? RETURNING seq, topic, replaceable, size",
            (seq,)).fetchall())

    def _forget(self, gone: list[tuple[int, str, int, int]]) -> None:
        """Take rows (seq, topic, replaceable, size) a delete returned out of the counts."""
        self._count -= len(gone)
        for seq, topic, replaceable, size in gone:
            self._bytes -= size
            if replaceable and self._replaceable.get(topic, (-1, 0))[0] == seq:
                del self._replaceable[topic]

    def _recount(self) -> None:
        """Read the counts (and the queued coalescable messages) from the database."""
        db = self._require()
        row = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        self._count, self._bytes = int(row[0]), int(row[1])
        self._replaceable = {
            topic: (int(seq), int(size)) for seq, topic, size in db.execute(
                "SELECT seq, topic, size FROM outbox WHERE replaceable = 1 ORDER BY seq")}

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the MQTT outbox is not open")
        return self._db

    # -- a full disk ---------------------------------------------------------------------------

    def _write_failed(self, err: sqlite3.OperationalError, acknowledged: int = -1) -> None:
        """Recover from a write that failed because the disk is full; re-raise anything else.

        SQLite rolls the whole transaction back on ``SQLITE_FULL`` at commit, so its appends
        (``_pending``) and its acknowledgement are written again, under a byte bound that
        shrinks at each failure: the bound drops the oldest messages, as it does when full.
        """
        if not _is_disk_full(err):
            raise err
        db = self._require()
        pending, self._pending = self._pending, []
        # The rollback undoes the acknowledgements not committed yet: they are made again.
        acknowledged = max(acknowledged, self._acked_uncommitted)
        self._roll_back()
        if not self._disk_full:
            self._disk_full = True
            self._dropped_before_full = self.dropped
            log.warning("the disk holding the MQTT outbox %s is full: dropping the oldest "
                        "messages to make room while the broker is unreachable (%d queued)",
                        self.path, self._count)
            # A short log is checkpointed before it can fill the disk again.
            db.execute(f"PRAGMA wal_autocheckpoint={_FULL_DISK_CHECKPOINT}")
        # A first failure is often the log alone: it is given back before any bound is set.
        bound = self._disk_bound
        while True:
            self._disk_bound = bound
            if not self._reclaim_log():
                self._compact(bound)
                db = self._require()
            try:
                if acknowledged >= 0:
                    self._delete_through(acknowledged)
                self._enforce_bounds()
                for message in pending:
                    self._insert(message)
                db.commit()
                break
            except sqlite3.OperationalError as again:
                if not _is_disk_full(again):
                    raise
                self._roll_back()
                if bound == 0:
                    # Even an empty outbox has no room: the disk is full of other files.
                    self.dropped += len(pending)
                    log.log(logging.DEBUG if self._no_room else logging.ERROR,
                            "no room at all for the MQTT outbox %s (the disk is full of other "
                            "files): new messages are lost until there is", self.path)
                    self._no_room = True
                    break
                bound = _shrunk(bound, self._bytes)
        self._committed()

    def _roll_back(self) -> None:
        db = self._require()
        db.rollback()
        # The drops of the rolled-back transaction did not happen; they are made (and counted)
        # again when its appends are written again.
        self.dropped = self._dropped_at_commit
        self._recount()

    def _reclaim_log(self) -> bool:
        """Checkpoint the write-ahead log and truncate it (it keeps its size otherwise, and on
        a full disk it is usually what took the room); False if that needed room too."""
        try:
            self._require().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.OperationalError as err:
            if not _is_disk_full(err):
                raise
            return False
        return True

    def _compact(self, keep_bytes: int | None) -> None:
        """Rewrite the outbox as a new file holding the newest messages: ``keep_bytes`` of
        them (None: all), fewer if even that does not fit.

        The way out when the log cannot be checkpointed because the database file would have
        to grow: reading needs no room, and deleting the files gives all of it back.
        """
        kept: list[tuple[int, str, bytes, int, int, int, int]] = []
        total = 0
        for row in self._require().execute(
                "SELECT seq, topic, payload, qos, retain, replaceable, size FROM outbox "
                "ORDER BY seq DESC"):
            total += int(row[6])
            if keep_bytes is not None and total > keep_bytes:
                break
            kept.append(row)
        kept.reverse()
        self._require().close()
        self._db = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        held = self._count
        try:
            db = self._db = self._connect()
        except sqlite3.OperationalError as err:
            raise OSError(errno.ENOSPC, f"no room left for the MQTT outbox {self.path}") from err
        db.execute(f"PRAGMA wal_autocheckpoint={_FULL_DISK_CHECKPOINT}")
        while True:
            try:
                # The same seqs: the link may hold a batch it peeked and acknowledges by seq.
                db.executemany("INSERT INTO outbox (seq, topic, payload, qos, retain, "
                               "replaceable, size) VALUES (?, ?, ?, ?, ?, ?, ?)", kept)
                db.commit()
                break
            except sqlite3.OperationalError as err:
                if not _is_disk_full(err) or not kept:
                    raise
                db.rollback()
                kept = kept[len(kept) // 2:]
        self._recount()
        # Counted here, not by a transaction: the old file is gone whatever happens next.
        self.dropped += held - len(kept)
        self._dropped_at_commit = self.dropped
        # Into the database file now, while the old file's room is free: a log holding every
        # page would need as much again at the next checkpoint.
        self._reclaim_log()

    def _end_full_disk(self) -> None:
        log.warning("the MQTT outbox %s drained: the full disk cost %d messages (the oldest); "
                    "the outbox may grow again", self.path,
                    self.dropped - self._dropped_before_full)
        self._disk_full = self._no_room = False
        self._disk_bound = None
        self._require().execute("PRAGMA wal_autocheckpoint=1000")


def _shrunk(bound: int | None, held: int) -> int:
    """The next byte bound while the disk is full: below what is held, then halving."""
    return int(held * _FULL_DISK_SHARE) if bound is None else bound // 2


def _is_disk_full(err: sqlite3.Error) -> bool:
    return getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


class _Corrupt(sqlite3.DatabaseError):
    """``PRAGMA quick_check`` found damage in a file that opened."""


def _is_corrupt(err: BaseException) -> bool:
    if isinstance(err, _Corrupt):
        return True
    code = getattr(err, "sqlite_errorcode", None)
    # Extended codes (SQLITE_CORRUPT_INDEX...) keep the primary code in their low byte.
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _read_only(directory: Path) -> bool:
    """True when the gateway cannot create files in ``directory`` (read-only mount, or a
    directory it has no write permission on); a directory still to be created is judged by
    its nearest existing parent."""
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(directory, os.W_OK)


def _cause(err: BaseException, path: Path) -> str:
    """What an operator needs to know about a failed open; SQLite's own "unable to open
    database file" does not say why, so the file is opened once more for the system's reason."""
    if isinstance(err, OSError):
        return err.strerror or str(err)
    try:
        fd = os.open(path if path.exists() else path.parent, os.O_RDWR if path.exists()
                     else os.O_RDONLY)
    except OSError as system:
        return f"{err} ({system.strerror})"
    os.close(fd)
    return str(err)
