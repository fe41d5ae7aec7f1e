"""``python -m bench [--quick] [--only NAME] [--compare]``: run the benchmarks, print, write
the document; or compare its last two recorded runs.

Runs each benchmark in its own temporary directory, prints one table, and replaces the
generated part of docs/benchmarks.md (between the ``results`` markers; the hand-written
analysis around them stays; with ``--only``, the rows and notes of the benchmarks not run
stay as they were recorded). Each figure keeps the value the document held before in its
``previous`` column; ``--compare`` runs nothing and prints, per figure, previous -> current,
the change in percent, and which moved the bad way by more than ``--threshold`` percent.
The scale benchmark needs root for its network namespaces: run everything through
``scripts/bench``, which also keeps all traffic off real interfaces.
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

from bench import machine
from bench.stats import Recorded, Report, changes, comparison, parse_table, recorded, table

BENCHMARKS = ("latency", "notify", "scale", "replay", "profile", "exhaustion", "c_anchor",
              "profile_get", "mfg_handshake", "hass", "secure", "instructions")
DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN = "<!-- results:begin (written by python -m bench; do not edit by hand) -->"
END = "<!-- results:end -->"
#: Percent by which a figure may move the bad way before ``--compare`` marks it.
THRESHOLD = 10.0


def run_one(name: str, size: str) -> Report:
    # Imported here: the rig needs the protocol libraries, which --compare does not.
    from bench import rig

    module: ModuleType = importlib.import_module(f"bench.{name}")
    with rig.workdir(name) as directory:
        report: Report = module.run(directory, size)
        return report


def results(text: str) -> str:
    """The generated part of a document (between the markers; empty without them)."""
    _, _, rest = text.partition(BEGIN)
    block, _, _ = rest.partition(END)
    return block


def kept_parts(text: str, ran: set[str]) -> tuple[list[Recorded], list[str]]:
    """Table rows and note paragraphs of the benchmarks *not* in ``ran`` in an older block.

    ``--only`` runs some benchmarks; the others' rows (with their previous values) and notes
    stay as they were recorded.
    """
    block = results(text)
    rows = [line for line in parse_table(block) if line.benchmark not in ran]
    notes: list[str] = []
    keep = False
    for line in block.splitlines():
        if line.startswith("|"):
            continue
        if line.startswith("**"):
            name = line[2:].split("**")[0].removesuffix(" FAILED")
            keep = name not in ran
        if keep:
            notes.append(line)
    return rows, notes


def render(reports: list[Report], size: str, seconds: float, failures: dict[str, str],
           kept: tuple[list[Recorded], list[str]] = ([], []),
           before: str = "") -> str:
    """The results block; each new figure's ``previous`` is its value in ``before`` (the
    results recorded until now)."""
    previous = {line.key: line.value for line in parse_table(before)}
    lines_of = [recorded(row, previous.get((row.benchmark, row.metric), "-"))
                for r in reports for row in r.rows]
    lines = [BEGIN, "", f"Run of `python -m bench{' --quick' if size == 'quick' else ''}` "
             f"on {time.strftime('%Y-%m-%d')}, {seconds:.0f} s in total.", ""]
    if kept[0]:
        ran = ", ".join(dict.fromkeys([r.name for r in reports] + list(failures)))
        lines += [f"This run measured only: {ran}. The other rows are from the run "
                  "recorded before.", ""]
    lines += [f"- {line}" for line in machine.describe()]
    lines += ["", table(lines_of + kept[0]), ""]
    for report in reports:
        if report.notes:
            lines += [f"**{report.name}**", "", *("    " + n.strip() if n.startswith("    ")
                                                   else n for n in report.notes), ""]
    for name, error in failures.items():
        lines += [f"**{name} FAILED**: `{error}`", ""]
    lines += kept[1]
    lines.append(END)
    return "\n".join(lines)


def compare(path: Path, only: list[str], threshold: float) -> int:
    """Print how each figure moved between the two runs ``path`` records: 0, or 1 when one
    moved the bad way beyond ``threshold``, 2 when there is nothing to compare."""
    lines = parse_table(results(path.read_text())) if path.exists() else []
    lines = [line for line in lines if not only or line.benchmark in only]
    if not lines:
        of = f" of {', '.join(only)}" if only else ""
        print(f"no recorded results{of} in {path}", file=sys.stderr)
        return 2
    print(comparison(lines, threshold))
    return 1 if any(change.worse(threshold) for change in changes(lines)) else 0


def write_document(block: str, path: Path = DOCUMENT) -> None:
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(head + block + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (about a minute, and 13 for the exhaustion "
                        "benchmark, which waits out the 247 s CoAP exchange lifetime after "
                        "each flood)")
    parser.add_argument("--size", choices=("full", "quick", "tiny"), help=argparse.SUPPRESS)
    parser.add_argument("--only", action="append", choices=BENCHMARKS, default=[],
                        help="run (or compare) only this benchmark (repeatable)")
    parser.add_argument("--no-write", action="store_true",
                        help=f"print only; do not update {DOCUMENT.name}")
    parser.add_argument("--compare", action="store_true",
                        help=f"run nothing: print each figure of {DOCUMENT.name} as previous "
                        "-> current with the change in percent (exit status 1 when one got "
                        "worse beyond the threshold)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD, metavar="PERCENT",
                        help="with --compare: how much worse a figure may get unmarked "
                        f"(default {THRESHOLD:g})")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(DOCUMENT, args.only, args.threshold)
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
    old = DOCUMENT.read_text() if DOCUMENT.exists() else ""
    previous = {line.key: line.value for line in parse_table(results(old))}
    rows = [row for r in reports for row in r.rows]
    print(table([recorded(row, previous.get((row.benchmark, row.metric), "-"))
                 for row in rows]))
    kept: tuple[list[Recorded], list[str]] = ([], [])
    if args.only and old:
        kept = kept_parts(old, set(args.only))
    block = render(reports, size, time.monotonic() - began, failures, kept, results(old))
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
