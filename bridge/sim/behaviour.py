"""Scripted behaviour of simulated devices: drifting values, pulses, toggles, departures.

Layer: ``bridge.sim``. Each :class:`~bridge.sim.scenario.Behaviour` becomes one asyncio task
that changes a :class:`~bridge.sim.device.SimDevice` from outside (so observers and the
gateway see real notifications) or makes its server vanish and return.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from bridge.sim.control import SimServer, emit
from bridge.sim.scenario import Behaviour

log = logging.getLogger("ocfaj.sim")


Report = Callable[[Mapping[str, Any]], None]


async def run_behaviour(behaviour: Behaviour, server: SimServer, report: Report = emit) -> None:
    """Run one behaviour forever (until cancelled); departures and returns go to ``report``
    (by default the control protocol's event lines on stdout)."""
    device = server.device
    direction = 1.0
    while True:
        await asyncio.sleep(behaviour.every)
        if behaviour.kind == "leave":
            await server.vanish()
            report({"event": "left", "device": device.name})
            await asyncio.sleep(behaviour.duration)
            facts = await server.start()
            report({"event": "ready", "device": device.name, **facts})
            continue
        cap, prop = behaviour.capability, behaviour.property
        current = device.state[cap][prop]
        if behaviour.kind == "toggle":
            device.set(cap, {prop: not current})
        elif behaviour.kind == "pulse":
            device.set(cap, {prop: True})
            await asyncio.sleep(behaviour.duration)
            device.set(cap, {prop: False})
        else:
            direction = _drift(behaviour, server, float(current), direction)


def _drift(behaviour: Behaviour, server: SimServer, current: float, direction: float) -> float:
    """One drift step that turns back at the configured (or the model's) limits."""
    device = server.device
    spec = device.capabilities[behaviour.capability].property(behaviour.property)
    assert spec is not None
    low = behaviour.minimum if behaviour.minimum is not None else spec.minimum
    high = behaviour.maximum if behaviour.maximum is not None else spec.maximum
    nxt = current + direction * behaviour.step
    if (high is not None and nxt > high) or (low is not None and nxt < low):
        direction = -direction
        nxt = current + direction * behaviour.step
    value: float | int = round(nxt) if spec.type == "integer" else round(nxt, 3)
    device.set(behaviour.capability, {behaviour.property: value})
    return direction


def start_behaviours(behaviours: tuple[Behaviour, ...], servers: Mapping[str, SimServer], *,
                     report: Report = emit) -> list[asyncio.Task[None]]:
    """One task per behaviour; cancel them to stop."""
    tasks = []
    for behaviour in behaviours:
        server = servers[behaviour.device]
        tasks.append(asyncio.create_task(run_behaviour(behaviour, server, report),
                                         name=f"behaviour-{behaviour.kind}-{behaviour.device}"))
    return tasks
