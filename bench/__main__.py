"""``python -m bench [--quick] [--only NAME]``: run the benchmarks, print, write the document.

Runs each benchmark in its own temporary directory, prints one table, and replaces the
generated part of docs/benchmarks.md (between the ``results`` markers; the hand-written
analysis around them stays; with ``--only``, the rows and notes of the benchmarks not run
stay as they were recorded). The scale benchmark needs root for its network namespaces:
run everything through ``scripts/bench``, which also keeps all traffic off real interfaces.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from bench import machine, rig
from bench.stats import Report, Row, table

BENCHMARKS = ("latency", "notify", "scale", "replay", "profile", "exhaustion", "c_anchor",
              "profile_get", "secure")
DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN = "<!-- results:begin (written by python -m bench; do not edit by hand) -->"
END = "<!-- results:end -->"


def run_one(name: str, size: str) -> Report:
    module: ModuleType = importlib.import_module(f"bench.{name}")
    with rig.workdir(name) as directory:
        report: Report = module.run(directory, size)
        return report


def kept_parts(text: str, ran: set[str]) -> tuple[list[str], list[str]]:
    """Table lines and note paragraphs of the benchmarks *not* in ``ran`` in an older block.

    ``--only`` runs some benchmarks; the others' rows and notes stay as they were recorded.
    """
    _, _, rest = text.partition(BEGIN)
    block, _, _ = rest.partition(END)
    rows: list[str] = []
    notes: list[str] = []
    keep = False
    for line in block.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if line.startswith("| ") and len(cells) > 2:
            if cells[1] not in ran and cells[1] != "benchmark":
                rows.append(line)
            continue
        if line.startswith("**"):
            name = line[2:].split("**")[0].removesuffix(" FAILED")
            keep = name not in ran
        elif line.startswith("|---"):
            continue
        if keep:
            notes.append(line)
    return rows, notes


def render(reports: list[Report], size: str, seconds: float, failures: dict[str, str],
           kept: tuple[list[str], list[str]] = ([], [])) -> str:
    rows: list[Row] = [row for r in reports for row in r.rows]
    lines = [BEGIN, "", f"Run of `python -m bench{' --quick' if size == 'quick' else ''}` "
             f"on {time.strftime('%Y-%m-%d')}, {seconds:.0f} s in total.", ""]
    if kept[0]:
        ran = ", ".join(dict.fromkeys([r.name for r in reports] + list(failures)))
        lines += [f"This run measured only: {ran}. The other rows are from the run "
                  "recorded before.", ""]
    lines += [f"- {line}" for line in machine.describe()]
    lines += ["", table(rows), *kept[0], ""]
    for report in reports:
        if report.notes:
            lines += [f"**{report.name}**", "", *("    " + n.strip() if n.startswith("    ")
                                                   else n for n in report.notes), ""]
    for name, error in failures.items():
        lines += [f"**{name} FAILED**: `{error}`", ""]
    lines += kept[1]
    lines.append(END)
    return "\n".join(lines)


def write_document(block: str, path: Path = DOCUMENT) -> None:
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(head + block + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--size", choices=("full", "quick", "tiny"), help=argparse.SUPPRESS)
    parser.add_argument("--only", action="append", choices=BENCHMARKS, default=[],
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--no-write", action="store_true",
                        help=f"print only; do not update {DOCUMENT.name}")
    args = parser.parse_args(argv)
    size = args.size or ("quick" if args.quick else "full")
    if os.geteuid() != 0:
        print("python -m bench needs root (network namespaces, py-spy): use scripts/bench",
              file=sys.stderr)
        return 2
    began = time.monotonic()
    reports: list[Report] = []
    failures: dict[str, str] = {}
    for name in args.only or BENCHMARKS:
        print(f"== {name} ({size})", flush=True)
        try:
            reports.append(run_one(name, size))
        except Exception as err:
            traceback.print_exc()
            failures[name] = f"{type(err).__name__}: {err}"
    rows = [row for r in reports for row in r.rows]
    print(table(rows))
    kept: tuple[list[str], list[str]] = ([], [])
    if args.only and DOCUMENT.exists():
        kept = kept_parts(DOCUMENT.read_text(), set(args.only))
    block = render(reports, size, time.monotonic() - began, failures, kept)
    if not args.no_write:
        write_document(block)
        print(f"results written to {DOCUMENT}")
    missed = [r for r in rows if r.met is False]
    if missed:
        print(f"{len(missed)} target(s) missed: " + "; ".join(
            f"{r.benchmark} {r.metric}" for r in missed))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
