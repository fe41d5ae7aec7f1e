"""Start a process with less access than root: a real read-only directory, or no way past
file permissions.

For a read-only directory the process runs in a mount namespace of its own (``unshare -m``,
private propagation), where ``directory`` is bind-mounted onto itself and remounted read-only
before the command is executed: the machine's mounts never change, and the mount goes away
with the process. Writes from the process fail with EROFS, even as root, while the test itself
still writes there.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bridge.sim.processes import Popen

_READ_ONLY_THEN_EXEC = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && '
                        'exec "$@"')


def on_read_only_dir(directory: Path, popen: Popen = subprocess.Popen) -> Popen:
    """A ``popen`` that runs its command with ``directory`` mounted read-only."""
    directory.mkdir(parents=True, exist_ok=True)

    def start(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        wrapped = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   _READ_ONLY_THEN_EXEC, "sh", str(directory), *args]
        return popen(wrapped, **kwargs)

    return start


def without_file_permissions(popen: Popen = subprocess.Popen) -> Popen:
    """A ``popen`` whose command runs without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: even
    as root it gets "Permission denied" from a file whose mode forbids it."""

    def start(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        wrapped = ["setpriv", "--inh-caps=-all",
                   "--bounding-set=-dac_override,-dac_read_search", "--", *args]
        return popen(wrapped, **kwargs)

    return start
