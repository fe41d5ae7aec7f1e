"""The OCF resources of a simulated device: one per capability, or one per combined group.

Layer: ``bridge.sim``. Builds on ``bridge.ocf.model_resources`` so a simulator serves exactly
the representation the gateway's virtual devices serve, plus what a real device may add: the
limits it declares (:meth:`SimDevice.declare`, served as ``range``/``step``/``precision``) and
capabilities that one resource carries together (:meth:`SimDevice.combine`: a ``/temperature``
offering ``oic.if.a`` and ``oic.if.s``, read as a sensor and written as an actuator).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bridge.model.types import Value
from bridge.ocf.model_resources import Applier, Role, combined_resource, unique_href
from bridge.ocf.served import ServedResource
from bridge.sim.device import SimDevice


def sim_resources(device: SimDevice, applier: Callable[[str], Applier]
                  ) -> tuple[dict[str, ServedResource], dict[str, str]]:
    """(resources by href, href by capability id) of ``device``; ``applier(cap_id)`` writes
    canonical values to one capability."""
    groups = list(device.combined)
    grouped = {cap_id for group in groups for cap_id in group}
    groups += [(cap_id,) for cap_id in device.capabilities if cap_id not in grouped]
    taken: set[str] = set()
    resources: dict[str, ServedResource] = {}
    hrefs: dict[str, str] = {}
    for group in sorted(groups, key=lambda g: list(device.capabilities).index(g[0])):
        first = device.capabilities[group[0]]
        href = unique_href(first.ocf.href_hint, group[0], taken)
        roles = [Role(device.capabilities[cap_id], _state_of(device, cap_id), applier(cap_id),
                      device.limits.get(cap_id, {})) for cap_id in group]
        resources[href] = combined_resource(href, roles)
        hrefs.update(dict.fromkeys(group, href))
    return resources, hrefs


def _state_of(device: SimDevice, cap_id: str) -> Callable[[], Mapping[str, Value]]:
    return lambda: device.state[cap_id]
