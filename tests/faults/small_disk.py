"""Start a process whose state directory is a small tmpfs of its own: a real full disk.

The process runs in a mount namespace of its own (``unshare -m``, private propagation), where
a tmpfs of ``size`` is mounted over ``directory`` before the command is executed: the machine's
mounts never change, and the mount goes away with the process. ``unshare`` and ``sh`` replace
themselves (``exec``), so the returned process is the command itself. The test reads what the
process wrote through ``/proc/<pid>/root``, which resolves paths in the process's namespace.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.sim.processes import Popen

_MOUNT_THEN_EXEC = 'mount -t tmpfs -o "size=$1" ocfaj-test-state "$2" && shift 2 && exec "$@"'


def on_small_disk(directory: Path, size: str, popen: Popen = subprocess.Popen) -> Popen:
    """A ``popen`` that runs its command with ``directory`` on a tmpfs of ``size`` (``512k``)."""
    directory.mkdir(parents=True, exist_ok=True)

    def start(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        wrapped = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   _MOUNT_THEN_EXEC, "sh", size, str(directory), *args]
        return popen(wrapped, **kwargs)

    return start


def seen_by(pid: int, path: Path) -> Path:
    """``path`` as process ``pid`` sees it (inside its mount namespace)."""
    return Path(f"/proc/{pid}/root") / path.relative_to("/")
