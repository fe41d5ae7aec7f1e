"""Files of the simulation kit that hold keys: JSON, written atomically, readable by the owner only.

Layer: ``bridge.sim`` (files, nothing else). The simulated secured device's state
(``bridge.sim.ocf_secure_state``), the simulated onboarding tool's state
(``bridge.sim.obt_state``) and the PSK files it hands to clients are written here: a
temporary file in the same directory (mode 0600 from its creation), fsync, rename over the
old file, fsync of the directory; the directory is made (and kept) mode 0700.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def private_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, mode 0600 (raises ``OSError``)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_private_json(path: Path, document: Any) -> None:
    write_private(path, json.dumps(document, indent=1, sort_keys=True).encode("utf-8"))
