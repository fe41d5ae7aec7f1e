"""Fault injection settings from the command line and from JSON-lines control commands.

Layer: ``bridge.sim`` (pure: argparse and dicts in, :class:`~bridge.sim.device.Faults` out).
``ocfaj simulate ocf|alljoyn`` take ``--drop 0.3 --delay 0.2 --error 0.1 --error-code 503
--malformed 0.1 --fault-seed 7`` (and, for OCF, ``--fault-path /oic/d``, repeatable, and
``--observe-answer plain|error|silent``); the control command ``{"cmd": "faults", ...}`` takes the
same keys (``drop``, ``delay``, ``error``, ``error_code``, ``malformed``, ``seed``, ``paths``:
a list of hrefs, ``observe_answer``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from bridge.sim.device import OBSERVE_ANSWERS, Faults

FAULT_KEYS = ("drop", "delay", "error", "error_code", "malformed", "seed", "paths",
              "observe_answer")


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "fault injection", "misbehave on purpose, to test a client's error handling")
    group.add_argument("--drop", type=float, default=0.0, metavar="SHARE",
                       help="share (0..1) of requests left unanswered")
    group.add_argument("--delay", type=float, default=0.0, metavar="SECONDS",
                       help="seconds added before every answer")
    group.add_argument("--error", type=float, default=0.0, metavar="SHARE",
                       help="share (0..1) of requests answered with --error-code")
    group.add_argument("--error-code", type=int, default=503, metavar="CODE",
                       help="injected error, CoAP-style 400..599 (default 503: 5.03 on OCF, "
                            "org.openconnectivity.Error.Code503 on AllJoyn)")
    group.add_argument("--malformed", type=float, default=0.0, metavar="SHARE",
                       help="share (0..1) of requests answered with a malformed payload")
    group.add_argument("--fault-seed", type=int, default=None, metavar="N",
                       help="seed of the fault draws, for repeatable runs")
    group.add_argument("--fault-path", action="append", default=[], metavar="HREF",
                       help="OCF: fault only requests to this href, /oic/res, /oic/d and "
                            "/oic/p included (repeatable; default: every resource but those)")
    group.add_argument("--observe-answer", choices=OBSERVE_ANSWERS, default="observe",
                       help="OCF: how the faulted resources answer a request to observe them: "
                            "observe (default), plain (a read without Observe option), "
                            "error (refused with --error-code) or silent (no answer); plain "
                            "reads are unaffected")


def faults_from_args(args: argparse.Namespace) -> Faults:
    """The :class:`Faults` the command line asked for; ``ValueError`` names a bad value."""
    return faults_from_mapping({"drop": args.drop, "delay": args.delay, "error": args.error,
                                "error_code": args.error_code, "malformed": args.malformed,
                                "seed": args.fault_seed,
                                "paths": args.fault_path,
                                "observe_answer": args.observe_answer})


def faults_from_mapping(values: Mapping[str, Any]) -> Faults:
    """:class:`Faults` from a control command's keys; unknown keys and bad values raise."""
    unknown = sorted(set(values) - set(FAULT_KEYS))
    if unknown:
        raise ValueError(f"unknown fault setting(s) {', '.join(unknown)} "
                         f"(known: {', '.join(FAULT_KEYS)})")
    checked: dict[str, Any] = {}
    for key in ("drop", "delay", "error", "malformed"):
        value = values.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} must be a number, got {value!r}")
        checked[key] = float(value)
    code = values.get("error_code", 503)
    if isinstance(code, bool) or not isinstance(code, int) or not 400 <= code <= 599:
        raise ValueError(f"error_code must be a CoAP-style error 400..599, got {code!r}")
    seed = values.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    paths = values.get("paths", [])
    if not isinstance(paths, list | tuple) or not all(isinstance(p, str) for p in paths):
        raise ValueError(f"paths must be a list of hrefs, got {paths!r}")
    observe_answer = values.get("observe_answer", "observe")
    if observe_answer not in OBSERVE_ANSWERS:
        raise ValueError(f"observe_answer must be one of {', '.join(OBSERVE_ANSWERS)}, got "
                         f"{observe_answer!r}")
    return Faults(error_code=code, seed=seed, paths=tuple(paths),
                  observe_answer=observe_answer, **checked)


def describe(faults: Faults) -> dict[str, Any]:
    """The settings of ``faults``, as reported in control events."""
    return {"drop": faults.drop, "delay": faults.delay, "error": faults.error,
            "error_code": faults.error_code, "malformed": faults.malformed, "seed": faults.seed,
            "paths": list(faults.paths), "observe_answer": faults.observe_answer}
