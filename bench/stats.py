"""Numbers for benchmark results: percentiles, rates, and the rows of the result table.

Pure: no I/O, no asyncio. A :class:`Row` is one line of the table the runner prints and writes
to docs/benchmarks.md: what was measured, the value, the raw baseline measured in the same run
and the target, so each line says on its own whether the target was met.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(samples: Sequence[float], share: float) -> float:
    """The ``share`` (0..1) percentile by the nearest-rank method; NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.nan


def rate(count: int, seconds: float) -> float:
    """Events per second; NaN when no time passed."""
    return count / seconds if seconds > 0 else math.nan


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline and not math.isnan(baseline) else math.nan


@dataclass(frozen=True)
class Row:
    """One measured number.

    ``met`` is None when the row has no target (a baseline or an informative number).
    """

    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: float = math.nan
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def vs_baseline(self) -> float:
        return ratio(self.value, self.baseline)


@dataclass
class Report:
    """Everything one benchmark produced: rows plus free-text findings for the document."""

    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lost: int = 0

    def add(self, metric: str, value: float, unit: str, **extra: object) -> Row:
        row = Row(self.name, metric, value, unit, **extra)  # type: ignore[arg-type]
        self.rows.append(row)
        return row

    def value(self, metric: str) -> float:
        for row in self.rows:
            if row.metric == metric:
                return row.value
        raise KeyError(metric)


def fmt(value: float) -> str:
    """A number as a person reads it in a table: 3 significant digits, thousands separated."""
    if math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def verdict(row: Row) -> str:
    if row.met is None:
        return ""
    return "yes" if row.met else "NO"


def table(rows: Sequence[Row]) -> str:
    """A Markdown table (also readable as plain text on a terminal)."""
    head = ["benchmark", "metric", "value", "unit", "raw baseline", "x baseline", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.benchmark, r.metric, fmt(r.value), r.unit, fmt(r.baseline),
                 fmt(r.vs_baseline), r.target, verdict(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
