"""Every firmware file compiles with mpy-cross, the real MicroPython compiler.

CPython accepts constructs MicroPython rejects (starred list displays, some f-string forms);
this is what catches them before a board does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


def test_every_firmware_file_compiles_with_mpy_cross(tmp_path: Path) -> None:
    sources = sorted(FIRMWARE.rglob("*.py"))
    assert len(sources) >= 15, sources
    failures = []
    for src in sources:
        out = tmp_path / src.relative_to(FIRMWARE).with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(src)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            failures.append(f"{src}: {done.stderr.strip()}")
        else:
            # .mpy header: magic "M", format version 6.
            assert out.read_bytes()[:2] == b"M\x06", src
    assert not failures, "\n".join(failures)
