"""The persistent state directory: identities and friendly names, written atomically.

Layer: ``bridge.daemon`` (does file I/O). A board's power can go at any moment, so every write
goes to a temporary file that is fsynced and renamed over the old one, after the old one has
been kept as ``.bak``. Loading falls back to the backup when the main file is missing, truncated
or corrupt, and says so in the log; a broken file never stops the gateway. Only a file that
loads is ever kept as the backup: backing up the corrupt file that loading just skipped would
overwrite the good backup, and a second corruption would then lose every identity.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from bridge.core.identity import IdentityBook

log = logging.getLogger("ocfaj.state")

IDENTITIES = "identities.json"


class StateStore:
    """Reads and writes the gateway's state files under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        #: (inode, size, mtime) of the identity file this store last wrote: while the file
        #: is still that one, it is known to load and is not read again before each save
        #: (with a thousand devices a read costs more than the write).
        self._written: tuple[int, int, int] | None = None

    def prepare(self) -> None:
        """Create the directory (mode 0700) if needed; raises OSError when it cannot."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def load_identities(self) -> IdentityBook:
        """The identity book, from the main file or its backup, or a new empty book."""
        path = self.directory / IDENTITIES
        for candidate in (path, _backup(path)):
            if not candidate.exists():
                continue
            try:
                book = _read_book(candidate)
            except (OSError, ValueError, UnicodeDecodeError) as err:
                log.error("state file %s is unreadable (%s); trying its backup", candidate, err)
                continue
            if candidate != path:
                log.warning("recovered identities from the backup %s; virtual devices keep "
                            "their identities", candidate)
            return book
        if path.exists() or _backup(path).exists():
            log.error("no usable identity file in %s: starting with new identities; "
                      "bridged devices will get new virtual ids", self.directory)
        return IdentityBook()

    def save_identities(self, book: IdentityBook) -> None:
        path = self.directory / IDENTITIES
        keep = (self._written is not None and _signature(path) == self._written) or _loads(path)
        if not keep and path.exists():
            log.warning("not keeping %s as the backup: it does not load; the backup %s stays "
                        "as it is", path, _backup(path))
        self._written = None
        # Compact: the book is rewritten while devices come and go (1,000s at a start), and
        # json's C encoder serves only documents without indentation (about 3x faster).
        write_atomic(path, book.to_json(), keep_backup=keep, compact=True)
        self._written = _signature(path)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _backup(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def _read_book(path: Path) -> IdentityBook:
    return IdentityBook.from_json(json.loads(path.read_text("utf-8")))


def _loads(path: Path) -> bool:
    """True when ``path`` holds an identity book that loads (so it may become the backup)."""
    try:
        _read_book(path)
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return True


def write_atomic(path: Path, document: Any, *, keep_backup: bool = True,
                 compact: bool = False) -> None:
    """Write ``document`` as JSON to ``path`` atomically (on one line with ``compact``,
    else indented).

    With ``keep_backup`` the previous file becomes ``.bak``; the caller passes False when the
    previous file is not one it could load, so that a good backup is never replaced by it.
    """
    data = (json.dumps(document, sort_keys=True, separators=(",", ":")) if compact
            else json.dumps(document, indent=1, sort_keys=True)).encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if keep_backup and path.exists():
        # Keep the last good file: a hard link is atomic and costs no copy.
        backup = _backup(path)
        backup.unlink(missing_ok=True)
        os.link(path, backup)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
