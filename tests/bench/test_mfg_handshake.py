"""The mfg_handshake benchmark runs at its tiny size and gives finite, positive numbers."""

from __future__ import annotations

import math
from pathlib import Path

from bench import mfg_handshake


def test_mfg_handshake_measures_both_suites(tmp_path: Path) -> None:
    report = mfg_handshake.run(tmp_path, "tiny")
    assert [row.metric for row in report.rows] == [
        "PSK handshake 0xC037 p50", "PSK handshake 0xC037 p99",
        "certificate handshake 0xC0AE + chain check p50",
        "certificate handshake 0xC0AE + chain check p99"]
    assert all(math.isfinite(row.value) and row.value > 0 for row in report.rows)
    assert "handshakes per suite" in report.notes[0]
