"""The record of retained topics: per Thing id, what the broker holds because of the gateway.

Layer: ``bridge.mqtt`` (file I/O in the state directory; no MQTT client, no asyncio). The
mirror records every retained topic of a device it publishes (state, availability, light, Home
Assistant discovery) and drops it when it clears the topic. The record outlives the process
(``<state_dir>/mqtt-retained.json``), so a device forgotten after a restart of the gateway,
which this run never published, still gets its topics cleared: the broker would otherwise keep
them, and Home Assistant would show the dead device, forever.

Writes: the whole document to a temporary file, fsynced, renamed over the old one, just before
the outbox commits messages after the record changed (:mod:`bridge.mqtt.writer` calls
:meth:`PublishedTopics.save`): after a crash the record may name a topic the broker never got
(clearing it again costs nothing), never miss one it holds. When the state
directory is read-only (the outbox then runs in memory too) the record lives in memory:
clearing works within this run. A write that fails (a full disk) is logged once and tried
again at the next change. An
unreadable file is logged and replaced by an empty record.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("ocfaj.mqtt")

FILE_NAME = "mqtt-retained.json"


class PublishedTopics:
    """Thing id -> the retained topics published for it; see the module docstring."""

    def __init__(self, path: Path, *, persistent: bool = True) -> None:
        self.path = path
        #: False: never written (the state directory is read-only).
        self.persistent = persistent
        self.dirty = False
        self._failing = False
        self._topics: dict[str, set[str]] = {}

    def load(self) -> None:
        """Read the record written by an earlier run (none yet: an empty record)."""
        try:
            document = json.loads(self.path.read_text("utf-8"))
            things = document["things"]
            self._topics = {str(thing_id): {str(t) for t in topics}
                            for thing_id, topics in things.items()}
        except FileNotFoundError:
            self._topics = {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            log.error("record of retained MQTT topics %s is unreadable (%s): starting an empty "
                      "one; topics of devices forgotten before they answer again may stay on "
                      "the broker", self.path, err)
            self._topics = {}

    def things(self) -> list[str]:
        return list(self._topics)

    def topics(self, thing_id: str) -> frozenset[str]:
        return frozenset(self._topics.get(thing_id, ()))

    def add(self, thing_id: str, topic: str) -> None:
        held = self._topics.setdefault(thing_id, set())
        if topic not in held:
            held.add(topic)
            self._changed()

    def drop(self, thing_id: str, topic: str) -> None:
        held = self._topics.get(thing_id)
        if held is None or topic not in held:
            return
        held.discard(topic)
        if not held:
            del self._topics[thing_id]
        self._changed()

    def held_elsewhere(self, thing_id: str, topic: str) -> bool:
        """True when a Thing other than ``thing_id`` holds ``topic`` too."""
        return any(topic in held for other, held in self._topics.items() if other != thing_id)

    def forget(self, thing_id: str) -> frozenset[str]:
        """Drop the record of ``thing_id``; returns its topics that no other Thing holds
        (a friendly name freed by it may have been taken since)."""
        held = self._topics.pop(thing_id, set())
        if held:
            self._changed()
        others = set().union(*self._topics.values()) if self._topics else set()
        return frozenset(held - others)

    def _changed(self) -> None:
        self.dirty = True

    def save(self) -> None:
        """Write the record if it changed (and may be written); never raises."""
        if not self.dirty or not self.persistent:
            return
        document = {"version": 1,
                    "things": {k: sorted(v) for k, v in sorted(self._topics.items())}}
        try:
            _write_atomic(self.path, json.dumps(document, indent=1).encode("utf-8"))
        except OSError as err:
            # Once per episode; the next change tries again.
            if not self._failing:
                log.error("cannot write the record of retained MQTT topics %s (%s): it is kept "
                          "in memory until a write works; if the gateway stops first, topics of "
                          "devices it forgets after the restart may stay on the broker",
                          self.path, err)
            self._failing = True
            return
        self.dirty = False
        if self._failing:
            log.info("record of retained MQTT topics %s written again", self.path)
            self._failing = False


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
