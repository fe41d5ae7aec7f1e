"""Numbers for benchmark results: percentiles, rates, and the rows of the result table.

Pure: no I/O, no asyncio. A :class:`Row` is one line of the table the runner prints and writes
to docs/benchmarks.md: what was measured, the value, the raw baseline measured in the same run
and the target, so each line says on its own whether the target was met. A :class:`Recorded`
is such a line as the document holds it (text cells, with the value of the run recorded
before in ``previous``); :func:`parse_table` reads them back, :class:`Change` says how a
figure moved between the two runs and whether that is worse, judged by its unit.
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


#: The columns of the results table, in order.
COLUMNS = ("benchmark", "metric", "value", "previous", "unit", "raw baseline", "x baseline",
           "target", "met")
#: What a cell without a number shows.
NONE = "-"


@dataclass(frozen=True)
class Recorded:
    """One line of a results table as written: every cell is the text the document shows.

    ``previous`` is the value of the same figure in the run recorded before this one (``-``
    when that run did not have it).
    """

    benchmark: str
    metric: str
    value: str
    previous: str = NONE
    unit: str = ""
    baseline: str = NONE
    vs_baseline: str = NONE
    target: str = ""
    met: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What identifies a figure from one run to the next."""
        return self.benchmark, self.metric

    def cells(self) -> list[str]:
        return [self.benchmark, self.metric, self.value, self.previous, self.unit,
                self.baseline, self.vs_baseline, self.target, self.met]


def recorded(row: Row, previous: str = NONE) -> Recorded:
    """``row`` as the table shows it, beside the ``previous`` value of the same figure."""
    return Recorded(row.benchmark, row.metric, fmt(row.value), previous, row.unit,
                    fmt(row.baseline), fmt(row.vs_baseline), row.target, verdict(row))


def table(lines: Sequence[Recorded]) -> str:
    """A Markdown table (also readable as plain text on a terminal)."""
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(line.cells()) + " |" for line in lines]
    return "\n".join(out)


def parse_table(text: str) -> list[Recorded]:
    """Every line of the results tables in ``text``, in order.

    A table is known by its header (``| benchmark | metric | ...``); its columns are found by
    name, so a table written before the ``previous`` column existed reads with ``-`` there.
    Lines of other tables, and lines with another number of cells, are not results.
    """
    found: list[Recorded] = []
    header: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|") and len(line) > 1):
            header = None
            continue
        cells = [cell.strip() for cell in line[1:-1].split("|")]
        if cells[:2] == ["benchmark", "metric"]:
            header = cells
        elif header is not None and len(cells) == len(header) and not line.startswith("|---"):
            by_name = dict(zip(header, cells, strict=True))
            found.append(Recorded(
                by_name["benchmark"], by_name["metric"], by_name.get("value", NONE),
                by_name.get("previous", NONE), by_name.get("unit", ""),
                by_name.get("raw baseline", NONE), by_name.get("x baseline", NONE),
                by_name.get("target", ""), by_name.get("met", "")))
    return found


def number(cell: str) -> float:
    """The number a cell shows (``11,736`` is 11736.0); NaN for ``-`` or any other text."""
    try:
        return float(cell.replace(",", ""))
    except ValueError:
        return math.nan


#: The first word of units where less is better: times, memory, CPU.
LESS_IS_BETTER = frozenset({"ns", "us", "µs", "ms", "s", "B", "KiB", "MiB", "GiB", "%"})


def better(unit: str) -> int:
    """+1 when a higher value is better (a rate: ``req/s``, ``notif/s``), -1 when a lower one
    is (a time, memory or CPU: ``ms``, ``MiB``, ``us CPU``, ``% of a core``), 0 when the unit
    does not say (counts such as ``requests``)."""
    if unit.endswith("/s"):
        return 1
    words = unit.split()
    return -1 if words and words[0] in LESS_IS_BETTER else 0


@dataclass(frozen=True)
class Change:
    """How one figure moved from the run recorded before to the last one."""

    line: Recorded
    previous: float
    current: float

    @property
    def percent(self) -> float:
        """The change relative to the previous value; NaN when that was 0."""
        if self.previous == 0:
            return math.nan
        return (self.current - self.previous) / abs(self.previous) * 100

    def worse(self, threshold: float) -> bool:
        """True when the figure moved the bad way (by its unit) by more than ``threshold``
        percent, judged at the 0.1 % that :func:`comparison` prints."""
        percent = self.percent
        return not math.isnan(percent) and round(-better(self.line.unit) * percent, 1) \
            > threshold


def changes(lines: Sequence[Recorded]) -> list[Change]:
    """The figures that have both a current and a previous number."""
    found = [Change(line, number(line.previous), number(line.value)) for line in lines]
    return [c for c in found if not math.isnan(c.previous) and not math.isnan(c.current)]


def comparison(lines: Sequence[Recorded], threshold: float) -> str:
    """Per figure, previous -> current and the change in percent, ``WORSE`` where it moved
    the bad way by more than ``threshold`` percent; then a summary line."""
    moved = changes(lines)
    out = []
    for change in moved:
        percent = "n/a" if math.isnan(change.percent) else f"{change.percent:+.1f} %"
        mark = "  WORSE" if change.worse(threshold) else ""
        out.append(f"{change.line.benchmark} | {change.line.metric}: {change.line.previous} -> "
                   f"{change.line.value} {change.line.unit} ({percent}){mark}")
    worse = [c for c in moved if c.worse(threshold)]
    out.append(f"{len(moved)} figures compared ({len(lines) - len(moved)} without a previous "
               f"value); {len(worse)} worse by more than {threshold:g} %")
    return "\n".join(out)
