"""Served resources for model capabilities: hrefs, read and write through the model binding.

Layer: ``bridge.ocf``, pure: no socket, no asyncio. Shared by the virtual devices of bridged
Things and by the OCF simulator, so both speak exactly the same representation of a model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bridge.core.limits import PropertyLimits
from bridge.model.types import CapabilityModel, Value
from bridge.ocf.mapping import model_property_names, model_representation, model_write
from bridge.ocf.served import ServedResource, known_properties

#: Applies canonical values (already named and converted; the applier validates them).
Applier = Callable[[dict[str, Value]], Awaitable[object]]
#: The limits of a role whose device declares none (shared, not a dictionary per resource).
_NO_LIMITS: Mapping[str, PropertyLimits] = MappingProxyType({})


def unique_href(hint: str, fallback: str, taken: set[str]) -> str:
    """``hint`` (or ``/<fallback>``), with a number appended while it is taken; reserves it."""
    base = hint if hint.startswith("/") else f"/{fallback}"
    href, n = base, 1
    while href in taken:
        n += 1
        href = f"{base}{n}"
    taken.add(href)
    return href


@dataclass(frozen=True, slots=True)
class Role:
    """One capability a served resource carries: its model, live state, writer and limits."""

    model: CapabilityModel
    state: Callable[[], Mapping[str, Value]]
    #: None for a read-only role (a sensor).
    apply: Applier | None = None
    #: the limits the device declares (``range``, ``step``, ``precision`` of the resource).
    limits: Mapping[str, PropertyLimits] = field(default_factory=dict)

    @property
    def writable(self) -> bool:
        return self.apply is not None and any(p.writable for p in self.model.properties)


def model_resource(href: str, model: CapabilityModel, state: Callable[[], Mapping[str, Value]],
                   apply: Applier | None,
                   limits: Mapping[str, PropertyLimits] | None = None) -> ServedResource:
    """A resource for one model capability; read-only models (sensors) get no writer."""
    return combined_resource(href, [Role(model, state, apply, limits or _NO_LIMITS)])


def combined_resource(href: str, roles: list[Role]) -> ServedResource:
    """One resource carrying every role: read as a sensor and written as an actuator.

    Its interfaces are the writable roles' first (so the default one accepts a POST), then
    the others'; its representation is the read-only roles' overlaid by the writable ones'; a
    POST applies the properties the writable roles know and ignores the others
    (:func:`~bridge.ocf.served.known_properties`); an empty one changes nothing and answers
    the current representation.
    """
    ordered = sorted(roles, key=lambda role: role.writable)
    ifs = tuple(dict.fromkeys(i for role in reversed(ordered) for i in role.model.ocf.interfaces))
    rts = tuple(dict.fromkeys(role.model.ocf.resource_type for role in roles))
    carried = _Carried(ordered, rts[0])
    return ServedResource(href=href, rts=rts, ifs=ifs,
                          observable=any(role.model.ocf.observable for role in roles),
                          read=carried.read, write=carried.write if carried.writers else None)


class _Carried:
    """The roles of one served resource, read and written as :func:`combined_resource` says.
    An object whose bound methods the resource holds rather than two closures: there is one
    per resource of every virtual device."""

    __slots__ = ("names", "ordered", "rt", "writers")

    def __init__(self, ordered: list[Role], rt: str) -> None:
        # Tuples: fixed once made, and smaller than lists.
        self.ordered = tuple(ordered)
        self.rt = rt
        self.writers = tuple(role for role in ordered if role.writable)
        self.names = tuple(model_property_names(role.model) for role in self.writers)

    def read(self) -> dict[str, Value]:
        body: dict[str, Value] = {}
        for role in self.ordered:
            body.update(model_representation(role.model, role.state(), role.limits))
        return body

    async def write(self, body: dict[str, Any]) -> Mapping[str, Value]:
        kept = known_properties(body, frozenset().union(*self.names), self.rt)
        for role, known in zip(self.writers, self.names, strict=True):
            assert role.apply is not None
            mine = {k: v for k, v in kept.items() if k in known}
            if mine:
                await role.apply(model_write(role.model, mine))
        return self.read()
