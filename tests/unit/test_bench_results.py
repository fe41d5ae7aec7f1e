"""The benchmark results table: previous values kept beside the new ones, and --compare.

Pure document logic of ``bench/__main__.py`` and ``bench/stats.py``: no benchmark runs here.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.__main__ import BEGIN, END, compare, kept_parts, render, results, write_document
from bench.stats import (
    Change,
    Recorded,
    Report,
    better,
    changes,
    comparison,
    number,
    parse_table,
    recorded,
    table,
)

#: A results block as written before the ``previous`` column existed.
OLD_BLOCK = f"""{BEGIN}

Run of `python -m bench` on 2026-11-25, 123 s in total.

| benchmark | metric | value | unit | raw baseline | x baseline | target | met |
|---|---|---|---|---|---|---|---|
| latency | GET p50 | 0.50 | ms | 0.40 | 1.25 | <= 1 ms | yes |
| c_anchor | virtual OCF device: req/s | 1,743 | req/s | 11,736 | 0.15 |  |  |

**latency**

a note of the latency benchmark

{END}"""


def _report(name: str, *figures: tuple[str, float, str]) -> Report:
    report = Report(name)
    for metric, value, unit in figures:
        report.add(metric, value, unit)
    return report


def _document(tmp_path: Path, block: str = OLD_BLOCK) -> Path:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nhand-written\n\n{block}\n\nafter\n")
    return doc


def _rows(path: Path) -> dict[tuple[str, str], Recorded]:
    return {line.key: line for line in parse_table(results(path.read_text()))}


def test_a_table_reads_back_as_it_was_written() -> None:
    row = Report("notify").add("rate", 1234.5, "notif/s", baseline=1000.0, target=">= 1.0x",
                               met=True)
    line = recorded(row, "1,100")
    assert parse_table(table([line])) == [line]
    assert line == Recorded("notify", "rate", "1,234", "1,100", "notif/s", "1,000", "1.23",
                            ">= 1.0x", "yes")


def test_a_table_without_the_previous_column_reads_with_none() -> None:
    lines = parse_table(OLD_BLOCK)
    assert [line.key for line in lines] == [("latency", "GET p50"),
                                          ("c_anchor", "virtual OCF device: req/s")]
    assert lines[0] == Recorded("latency", "GET p50", "0.50", "-", "ms", "0.40", "1.25",
                                "<= 1 ms", "yes")


def test_other_tables_and_malformed_lines_are_not_results() -> None:
    text = ("| flood | RSS before |\n|---|---|\n| observers | 47.1 MiB |\n\n"
            "| benchmark | metric | value | previous | unit | raw baseline | x baseline | "
            "target | met |\n|---|---|---|---|---|---|---|---|---|\n| a | b | 1 |\n"
            "| a | c | 2.00 | 1.00 | ms | - | - |  |  |\n")
    assert [line.key for line in parse_table(text)] == [("a", "c")]


def test_a_new_run_keeps_each_figures_recorded_value_as_previous(tmp_path: Path) -> None:
    doc = _document(tmp_path)
    old = results(doc.read_text())
    new = _report("latency", ("GET p50", 0.6, "ms"), ("GET p99", 2.0, "ms"))
    write_document(render([new], "full", 1.0, {}, before=old), doc)
    rows = _rows(doc)
    assert rows[("latency", "GET p50")].value == "0.60"
    assert rows[("latency", "GET p50")].previous == "0.50"
    assert rows[("latency", "GET p99")].previous == "-"  # not in the run recorded before
    assert ("c_anchor", "virtual OCF device: req/s") not in rows  # a full run replaces all
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nhand-written\n\n") and text.endswith("after\n")


def test_rows_not_rerun_keep_their_own_previous_value(tmp_path: Path) -> None:
    doc = _document(tmp_path)
    first = _report("c_anchor", ("virtual OCF device: req/s", 1500.0, "req/s"))
    write_document(render([first], "full", 1.0, {}, kept_parts(doc.read_text(), {"c_anchor"}),
                          results(doc.read_text())), doc)
    second = _report("latency", ("GET p50", 0.7, "ms"))
    write_document(render([second], "full", 1.0, {}, kept_parts(doc.read_text(), {"latency"}),
                          results(doc.read_text())), doc)
    rows = _rows(doc)
    assert rows[("c_anchor", "virtual OCF device: req/s")].value == "1,500"
    assert rows[("c_anchor", "virtual OCF device: req/s")].previous == "1,743"
    assert rows[("latency", "GET p50")].value == "0.70"
    assert rows[("latency", "GET p50")].previous == "0.50"
    assert doc.read_text().count("| benchmark | metric |") == 1
    assert "a note of the latency benchmark" not in doc.read_text()


@pytest.mark.parametrize(("unit", "direction"), [
    ("req/s", 1), ("notif/s", 1), ("msg/s", 1), ("ms", -1), ("s", -1), ("us CPU", -1),
    ("MiB", -1), ("KiB", -1), ("% of a core", -1), ("requests", 0), ("1 = yes", 0), ("", 0)])
def test_the_unit_says_which_way_is_better(unit: str, direction: int) -> None:
    assert better(unit) == direction


def _change(unit: str, previous: float, current: float) -> Change:
    return Change(Recorded("b", "m", str(current), str(previous), unit), previous, current)


def test_worse_is_a_move_the_bad_way_beyond_the_threshold() -> None:
    assert _change("ms", 1.0, 1.2).worse(10.0)
    assert not _change("ms", 1.0, 0.5).worse(10.0)
    assert _change("req/s", 1000.0, 800.0).worse(10.0)
    assert not _change("req/s", 1000.0, 1500.0).worse(10.0)
    assert not _change("ms", 1.0, 1.1).worse(10.0)  # exactly the threshold: not beyond it
    assert not _change("ms", 1.0, 1.2).worse(25.0)
    assert not _change("requests", 100.0, 1.0).worse(10.0)  # a count: no direction
    zero = _change("ms", 0.0, 5.0)
    assert math.isnan(zero.percent) and not zero.worse(10.0)


def test_numbers_are_read_as_the_table_shows_them() -> None:
    assert number("11,736") == 11736.0 and number("0.04") == 0.04 and number("-1.5") == -1.5
    assert math.isnan(number("-")) and math.isnan(number("yes"))


def test_the_comparison_prints_every_figure_and_marks_the_worse() -> None:
    lines = [Recorded("c_anchor", "GET: req/s", "1,200", "1,500", "req/s"),
             Recorded("latency", "GET p50", "0.45", "0.50", "ms"),
             Recorded("scale", "idle RSS", "30.0", "-", "MiB")]
    assert [c.line.metric for c in changes(lines)] == ["GET: req/s", "GET p50"]
    text = comparison(lines, 10.0).splitlines()
    assert text == [
        "c_anchor | GET: req/s: 1,500 -> 1,200 req/s (-20.0 %)  WORSE",
        "latency | GET p50: 0.50 -> 0.45 ms (-10.0 %)",
        "2 figures compared (1 without a previous value); 1 worse by more than 10 %"]


def test_compare_reads_the_document_and_says_so_in_its_status(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _document(tmp_path)
    assert compare(doc, [], 10.0) == 0  # no previous values yet: nothing got worse
    new = _report("latency", ("GET p50", 0.8, "ms"))
    write_document(render([new], "full", 1.0, {}, kept_parts(doc.read_text(), {"latency"}),
                          results(doc.read_text())), doc)
    capsys.readouterr()
    assert compare(doc, [], 10.0) == 1
    assert "latency | GET p50: 0.50 -> 0.80 ms (+60.0 %)  WORSE" in capsys.readouterr().out
    assert compare(doc, ["c_anchor"], 10.0) == 0
    assert compare(doc, [], 100.0) == 0
    assert compare(doc, ["scale"], 10.0) == 2
    assert compare(tmp_path / "missing.md", [], 10.0) == 2
    assert "no recorded results" in capsys.readouterr().err
