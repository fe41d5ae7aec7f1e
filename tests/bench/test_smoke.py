"""Each benchmark runs once at a tiny size and produces sane numbers with nothing lost.

No timing assertion here: speed is judged by ``scripts/bench`` and docs/benchmarks.md, never by
the test suite. The tests run inside the suite's private network namespace (tests/conftest.py),
which the scale benchmark's namespaces need.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench import latency, notify, profile, replay, scale
from bench.__main__ import BEGIN, END, render, write_document
from bench.stats import Report, percentile

pytestmark = pytest.mark.timeout(300)


def _finite_positive(report: Report, unit: str) -> list[float]:
    # "added" latencies are differences and may rightly be negative (cached reads).
    values = [r.value for r in report.rows if r.unit == unit and "added" not in r.metric]
    assert values, f"{report.name} produced no {unit} rows"
    assert all(math.isfinite(v) and v > 0 for v in values), report.rows
    return values


def test_latency_measures_every_operation(tmp_path: Path) -> None:
    report = latency.run(tmp_path, "tiny")
    values = _finite_positive(report, "ms")
    assert len(values) == 16  # p50 and p99 of 4 raw and 4 bridged operations
    assert all(not math.isnan(r.baseline) for r in report.rows if "added" not in r.metric
               and not r.metric.startswith("raw"))


def test_notify_loses_nothing_on_the_wire_that_must_carry_everything(tmp_path: Path) -> None:
    report = notify.run(tmp_path, "tiny")
    _finite_positive(report, "notif/s")
    for row in report.rows:
        if ": lost at" in row.metric and "AllJoyn -> OCF" not in row.metric:
            assert row.value == 0, row
        if ": last state at" in row.metric:
            assert row.value == 1, row


def test_scale_exposes_devices_and_reads_memory(tmp_path: Path) -> None:
    report = scale.run(tmp_path, "tiny")
    assert report.value("start-up to READY") > 0
    assert 5 < report.value("idle RSS, no devices") < 1000
    assert report.value("2+2 devices: all exposed") > 0


def test_replay_drains_the_outbox_without_loss(tmp_path: Path) -> None:
    report = replay.run(tmp_path, "tiny")
    assert report.lost == 0
    assert report.value("lost messages") == 0
    assert report.value("replay rate") > 0


def test_profile_samples_the_gateway(tmp_path: Path) -> None:
    report = profile.run(tmp_path, "tiny")
    assert report.value("samples") >= 1


def test_document_keeps_the_hand_written_parts(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nanalysis before\n\n{BEGIN}\nold\n{END}\n\nafter\n")
    report = Report("x")
    report.add("thing", 1.5, "ms", target="<= 2 ms", met=True)
    write_document(render([report], "tiny", 1.0, {}), doc)
    text = doc.read_text()
    assert "analysis before" in text and "after" in text and "old" not in text
    assert "| x | thing | 1.50 | ms |" in text


def test_percentile_is_nearest_rank() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert percentile(list(map(float, range(1, 101))), 0.99) == 99.0
    assert math.isnan(percentile([], 0.5))


def test_web_benchmark_measures_memory_and_the_device_list() -> None:
    from bench import web

    result = web.measure(20)
    assert result["devices"] == 20
    assert result["rss_with_mib"] > result["rss_without_mib"] > 0
    assert 0 < result["list_ms_median"] <= result["list_ms_max"]
    assert result["list_kib"] > 0
