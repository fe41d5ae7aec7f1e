"""Stable identities of simulated OCF devices, derived from their scenario and device name.

Layer: ``bridge.sim`` (pure: standard library only, no I/O). A real OCF device keeps its
``piid`` (protocol-independent id) and its platform's ``pi`` for life; without security its
``di`` is new after every restart. A simulated device of a scenario behaves the same way across
runs: the same scenario and device name give the same ``piid`` and ``pi`` every time, so a
gateway (and Home Assistant behind it) sees the same device again instead of a new one. The
``di`` of the first start is derived too; the one after a departure and return is fresh, as a
real device's would be (``bridge.sim.ocf.OcfSimServer.vanish``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

#: The project's namespace for simulated OCF identities (UUIDv5, RFC 9562 section 5.5).
SIM_OCF_NAMESPACE = uuid.UUID("9dbf9ebd-a4b3-408a-8ad7-014823e8ff2d")


@dataclass(frozen=True)
class OcfSimIdentity:
    """The ids a simulated OCF device starts with, as UUID strings."""

    piid: str
    """``/oic/d`` ``piid``: what the gateway keys the device by, kept across returns."""

    pi: str
    """``/oic/p`` ``pi``: the platform id, kept across returns."""

    di: str
    """``/oic/d`` ``di`` of the first start; a return brings a fresh one."""


def derive_ocf_identity(scenario: str, device: str) -> OcfSimIdentity:
    """The identity of device ``device`` of scenario ``scenario``: the same for the same names."""
    piid, pi, di = (str(uuid.uuid5(SIM_OCF_NAMESPACE, f"{part}\x00{scenario}\x00{device}"))
                    for part in ("piid", "pi", "di"))
    return OcfSimIdentity(piid=piid, pi=pi, di=di)
