"""What a simulated device declares about its own values, from the command line.

Layer: ``bridge.sim`` (pure: argparse in, :meth:`SimDevice.declare` and
:meth:`SimDevice.combine` calls out). ``ocfaj simulate ocf`` takes
``--limit target_temperature:min=0,max=100,step=1,precision=0.5`` (the device's own range, step
and precision of a capability's value, in the model's canonical unit, which the OCF resource
then states as ``range``, ``step``, ``precision``) and ``--one-resource
temperature,target_temperature`` (serve those capabilities as one resource that is read as a
sensor and written as an actuator, sharing one value).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from bridge.core.limits import PropertyLimits
from bridge.sim.device import SimDevice

#: ``--limit`` keys and the :class:`PropertyLimits` field each sets.
LIMIT_KEYS = {"min": "minimum", "max": "maximum", "step": "step", "precision": "precision"}


def add_declare_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "declared limits", "what the device itself says about its values (over the model's "
                           "defaults)")
    group.add_argument("--limit", action="append", default=[], metavar="CAP:KEY=N,...",
                       help="the device's own limits of a capability's value, keys min, max, "
                            "step, precision, in the model's unit (repeatable), e.g. "
                            "target_temperature:min=0,max=100,step=1")
    group.add_argument("--one-resource", action="append", default=[], metavar="CAP,CAP",
                       help="serve these capabilities as one resource offering all their "
                            "interfaces (a sensor that is also an actuator), e.g. "
                            "temperature,target_temperature (repeatable)")


def parse_limit(text: str) -> tuple[str, PropertyLimits]:
    """``CAP:min=0,max=100`` -> (capability, limits); ``ValueError`` names a bad part."""
    cap, sep, rest = text.partition(":")
    if not sep or not cap or not rest:
        raise ValueError(f"--limit {text!r}: CAP:KEY=N[,KEY=N...] is expected")
    values: dict[str, float] = {}
    for part in rest.split(","):
        key, eq, number = part.partition("=")
        if not eq or key.strip() not in LIMIT_KEYS:
            raise ValueError(f"--limit {text!r}: {part!r} is not KEY=N with KEY one of "
                             f"{', '.join(LIMIT_KEYS)}")
        try:
            values[LIMIT_KEYS[key.strip()]] = float(number)
        except ValueError:
            raise ValueError(f"--limit {text!r}: {number!r} is not a number") from None
    return cap.strip(), PropertyLimits(**values)


def apply_declarations(device: SimDevice, limits: Sequence[str],
                       one_resource: Sequence[str]) -> None:
    """Apply ``--limit`` and ``--one-resource`` values to ``device``; ``ValueError`` if bad."""
    for text in limits:
        cap, declared = parse_limit(text)
        device.declare(cap, declared)
    for text in one_resource:
        device.combine(tuple(c.strip() for c in text.split(",") if c.strip()))


def declaration_args(limits: Mapping[str, Mapping[str, float]] | None = None,
                     one_resource: Sequence[Sequence[str]] = ()) -> list[str]:
    """The command line for declarations given as data (the pytest plugin's keywords)."""
    args: list[str] = []
    for cap, values in (limits or {}).items():
        args += ["--limit", f"{cap}:" + ",".join(f"{k}={v}" for k, v in values.items())]
    for group in one_resource:
        args += ["--one-resource", ",".join(group)]
    return args
