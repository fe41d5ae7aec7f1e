"""Served resources for model capabilities: hrefs, read and write through the model binding.

Layer: ``bridge.ocf``, pure: no socket, no asyncio. Shared by the virtual devices of bridged
Things and by the OCF simulator, so both speak exactly the same representation of a model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bridge.model.types import CapabilityModel, Value
from bridge.ocf.mapping import model_property_names, model_representation, model_write
from bridge.ocf.served import ServedResource, known_properties

#: Applies canonical values (already named and converted; the applier validates them).
Applier = Callable[[dict[str, Value]], Awaitable[object]]


def unique_href(hint: str, fallback: str, taken: set[str]) -> str:
    """``hint`` (or ``/<fallback>``), with a number appended while it is taken; reserves it."""
    base = hint if hint.startswith("/") else f"/{fallback}"
    href, n = base, 1
    while href in taken:
        n += 1
        href = f"{base}{n}"
    taken.add(href)
    return href


def model_resource(href: str, model: CapabilityModel, state: Callable[[], Mapping[str, Value]],
                   apply: Applier | None) -> ServedResource:
    """A resource for one model capability; read-only models (sensors) get no writer.

    A POST applies the properties the model knows and ignores the others
    (:func:`~bridge.ocf.served.known_properties`); an empty one changes nothing and answers
    the current representation.
    """
    writable = apply is not None and any(p.writable for p in model.properties)
    names = model_property_names(model)

    def read() -> dict[str, Value]:
        return model_representation(model, state())

    async def write(body: dict[str, Any]) -> Mapping[str, Value]:
        assert apply is not None
        kept = known_properties(body, names, model.ocf.resource_type)
        if kept:
            await apply(model_write(model, kept))
        return read()

    return ServedResource(href=href, rts=(model.ocf.resource_type,), ifs=model.ocf.interfaces,
                          observable=model.ocf.observable, read=read,
                          write=write if writable else None)
