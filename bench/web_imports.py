"""What importing aiohttp costs, piece by piece: ``python -m bench.web_imports [--json]``.

Layer: benchmark tooling (issue 20 point 6). Each measurement is a fresh interpreter that first
loads what a running gateway has loaded anyway (its sides and the daemon), reads its VmRSS,
then imports the modules of one step, in order, and reads VmRSS again after each. The steps
add aiohttp's dependencies one at a time (each after the ones before it), then aiohttp's own
modules; ``only web pieces`` imports ``aiohttp.web_app``, ``aiohttp.web_runner`` and
``aiohttp.web_response`` alone in a fresh interpreter, to see whether leaving the client out
helps (Python runs a package's ``__init__`` before any of its submodules, and aiohttp's
``__init__`` imports its client).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from bench.procstat import rss_mib

#: aiohttp's dependencies first, one at a time, then aiohttp and its server.
CUMULATIVE = (
    "multidict", "yarl", "propcache", "frozenlist", "aiosignal", "aiohappyeyeballs",
    "attr", "aiohttp", "aiohttp.web",
)
#: the server's own modules, without ``import aiohttp.web``.
WEB_PIECES = ("aiohttp.web_app", "aiohttp.web_runner", "aiohttp.web_response")


def child(modules: list[str]) -> dict[str, Any]:
    """In this process: baseline, then RSS after each import (run by :func:`measure`)."""
    import importlib
    import os

    import bridge.alljoyn.control
    import bridge.alljoyn.side
    import bridge.daemon.gateway
    import bridge.discovery.broker
    import bridge.mqtt.side
    import bridge.ocf.side  # noqa: F401

    pid = os.getpid()
    before = rss_mib(pid)
    steps = []
    for name in modules:
        loaded = len(sys.modules)
        importlib.import_module(name)
        steps.append({"module": name, "rss_mib": rss_mib(pid),
                      "new_modules": len(sys.modules) - loaded})
    aiohttp_modules = sorted(m for m in sys.modules if m.split(".")[0] == "aiohttp")
    return {"baseline_mib": before, "steps": steps, "aiohttp_modules": aiohttp_modules}


def _run(modules: tuple[str, ...]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.web_imports", "--child", *modules],
                          capture_output=True, text=True, timeout=120, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure() -> dict[str, Any]:
    cumulative, pieces = _run(CUMULATIVE), _run(WEB_PIECES)
    rows, last = [], cumulative["baseline_mib"]
    for step in cumulative["steps"]:
        rows.append({"module": step["module"], "added_mib": round(step["rss_mib"] - last, 1),
                     "new_modules": step["new_modules"]})
        last = step["rss_mib"]
    return {
        "baseline_mib": round(cumulative["baseline_mib"], 1),
        "cumulative": rows,
        "all_mib": round(last - cumulative["baseline_mib"], 1),
        "web_pieces_mib": round(pieces["steps"][-1]["rss_mib"] - pieces["baseline_mib"], 1),
        "web_pieces_loads_client": "aiohttp.client" in pieces["aiohttp_modules"],
        "web_pieces_aiohttp_modules": len(pieces["aiohttp_modules"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_imports", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return 0
    result = measure()
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"gateway with its sides loaded: {result['baseline_mib']} MiB RSS")
    for row in result["cumulative"]:
        print(f"  + import {row['module']:<18} {row['added_mib']:5.1f} MiB "
              f"({row['new_modules']} modules)")
    print(f"  aiohttp and its server in all: {result['all_mib']} MiB")
    print(f"only {', '.join(WEB_PIECES)}: {result['web_pieces_mib']} MiB "
          f"({result['web_pieces_aiohttp_modules']} aiohttp modules, client loaded: "
          f"{result['web_pieces_loads_client']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
