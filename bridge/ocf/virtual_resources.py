"""The resources of a virtual OCF device, built from a Thing of another side.

Layer: ``bridge.ocf``, pure: no socket, no asyncio. Model capabilities become the model's
resource (href from ``ocf.href_hint``, deduplicated); generic capabilities of AllJoyn origin
follow docs/protocol-notes.md, "Generic mapping": one resource per EmitsChangedSignal group of
properties (``x.<iface>.<value>``), one per method (``x.<iface>.<Method>``, POST invokes it),
one per signal (observable, read-only, fed by ``SignalEmitted``). Writes go through
``command`` (the registry), which checks them against the model before anything reaches the
origin device.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge import naming
from bridge.core.errors import ReadOnly
from bridge.core.registry import Command, InvokeMethod, SetProperties
from bridge.core.thing import Capability, GenericMember, GenericProperty, Thing
from bridge.model.types import Value
from bridge.ocf.info import platform_payload, virtual_device_payload, virtual_device_types
from bridge.ocf.model_resources import model_resource, unique_href
from bridge.ocf.served import ServedDevice, ServedResource, known_properties

log = logging.getLogger("ocfaj.ocf.virtual")

Commander = Callable[[Command], Awaitable[Mapping[str, Value]]]
StateOf = Callable[[str], Mapping[str, Value]]
#: Brings a capability's state up to date before a GET is answered (``Registry.read_through``).
Fresh = Callable[[str], Awaitable[object]]


@dataclass(slots=True)
class VirtualLayout:
    """A served device plus which hrefs carry which capability (for notifications)."""

    device: ServedDevice
    hrefs: dict[str, list[str]] = field(default_factory=dict)
    #: (capability key, signal name) -> href of the signal's resource.
    signals: dict[tuple[str, str], str] = field(default_factory=dict)
    #: last values of signal and method resources (they have no capability state).
    last: dict[str, dict[str, Value]] = field(default_factory=dict)
    #: hrefs of the signal and method resources (they read ``last``, never the device).
    last_only: set[str] = field(default_factory=set)


def build_layout(thing: Thing, state_of: StateOf, command: Commander,
                 fresh: Fresh | None = None,
                 reads_through: Callable[[str], bool] | None = None,
                 fresh_until: Callable[[str], float] | None = None) -> VirtualLayout:
    """The virtual device of ``thing``; ``state_of(key)`` reads a capability's live state,
    ``fresh(key)`` is awaited before a GET of a capability's resource is answered,
    ``reads_through(key)`` says whether it would ask the origin now, and ``fresh_until(key)``
    until when it would not (``ServedResource.fresh_until``)."""
    device = ServedDevice(di=thing.identity.di, device_types=virtual_device_types(thing),
                          device=virtual_device_payload(thing, thing.device_type),
                          platform=platform_payload(thing.identity.pi, thing.info),
                          available=thing.available)
    layout = VirtualLayout(device)
    taken = {"/oic/res", "/oic/d", "/oic/p"}
    for key in sorted(thing.capabilities):
        cap = thing.capabilities[key]
        access = _Access(key, state_of, command, fresh)
        try:
            resources = _resources(layout, cap, taken, access)
        except naming.NamingError as err:
            log.warning("%s (%s): capability %s has no OCF spelling (%s); not exposed",
                        thing.info.name, thing.id, key, err.reason)
            continue
        for resource in resources:
            if fresh is not None and resource.href not in layout.last_only:
                resource.refresh = access.refresh
                if reads_through is not None:
                    # The origin's check itself with the key bound (no Python frame of
                    # _Access between: the lean GET path asks it per request).
                    resource.reads_through = functools.partial(reads_through, key)
                if fresh_until is not None:
                    resource.fresh_until = functools.partial(fresh_until, key)
            device.resources[resource.href] = resource
            layout.hrefs.setdefault(key, []).append(resource.href)
    return layout


class _Access:
    """What the resources of one capability call: its live state, its writer and the
    read-through before a GET. One object per capability, whose bound methods the
    resources hold: a closure each cost about four times as much, on every virtual device."""

    __slots__ = ("_fresh", "command", "key", "state_of")

    def __init__(self, key: str, state_of: StateOf, command: Commander,
                 fresh: Fresh | None) -> None:
        self.key = key
        self.state_of = state_of
        self.command = command
        self._fresh = fresh

    def state(self) -> Mapping[str, Value]:
        return self.state_of(self.key)

    async def apply(self, values: dict[str, Value]) -> object:
        return await self.command(SetProperties(self.key, values))

    def refresh(self) -> Awaitable[object]:
        assert self._fresh is not None
        return self._fresh(self.key)


def _resources(layout: VirtualLayout, cap: Capability, taken: set[str],
               access: _Access) -> list[ServedResource]:
    key = cap.key
    state_of, command = access.state_of, access.command
    if cap.model is not None:
        model = cap.model
        href = unique_href(model.ocf.href_hint, model.id, taken)
        return [model_resource(href, model, access.state, access.apply)]
    spec = cap.generic
    assert spec is not None
    base = _base_uri(cap)
    if spec.resource_types:
        href = unique_href(base, key, taken)
        props = [p for p in spec.properties]
        return [_property_resource(href, spec.resource_types, props, spec.observable, key,
                                   state_of, command, ocf_names=False)]
    iface_rt = naming.alljoyn_to_ocf_rt(spec.interface)
    resources: list[ServedResource] = []
    groups: dict[str, list[GenericProperty]] = {}
    for prop in spec.properties:
        groups.setdefault(prop.emits_changed, []).append(prop)
    for value in sorted(groups):
        rt = f"{iface_rt}.{value}"
        href = unique_href(f"{base}/{rt}", key, taken)
        resources.append(_property_resource(href, (rt,), groups[value],
                                            value in ("true", "invalidates"), key, state_of,
                                            command, ocf_names=True))
    for method in spec.methods:
        rt = f"{iface_rt}.{method.name}"
        href = unique_href(f"{base}/{rt}", key, taken)
        resources.append(_method_resource(layout, href, rt, key, method, command))
    for signal in spec.signals:
        rt = f"{iface_rt}.{signal.name}"
        href = unique_href(f"{base}/{rt}", key, taken)
        layout.signals[(key, signal.name)] = href
        resources.append(ServedResource(href, (rt,), ("oic.if.r", "oic.if.baseline"), True,
                                        _last(layout, href)))
    return resources


def _base_uri(cap: Capability) -> str:
    if cap.instance.startswith("/") and cap.instance != "/":
        return naming.object_path_to_uri(cap.instance).rstrip("/")
    return f"/{cap.key}"


def _last(layout: VirtualLayout, href: str) -> Callable[[], Mapping[str, Value]]:
    layout.last_only.add(href)
    return lambda: layout.last.get(href, {})


def _property_resource(href: str, rts: tuple[str, ...], props: list[GenericProperty],
                       observable: bool, key: str, state_of: StateOf, command: Commander, *,
                       ocf_names: bool) -> ServedResource:
    to_ocf = {p.name: (naming.alljoyn_to_ocf_property(p.name) if ocf_names else p.name)
              for p in props}
    by_ocf = {ocf: next(p for p in props if p.name == name) for name, ocf in to_ocf.items()}
    writable = any(p.access == "rw" for p in props)

    def read() -> dict[str, Value]:
        state = state_of(key)
        return {to_ocf[p.name]: state[p.name] for p in props if p.name in state}

    async def write(body: dict[str, Any]) -> Mapping[str, Value]:
        values: dict[str, Value] = {}
        for name, value in known_properties(body, by_ocf, href).items():
            prop = by_ocf[name]
            if prop.access != "rw":
                raise ReadOnly(f"{href}: {name} is read-only", prop=name)
            values[prop.name] = value
        if values:
            await command(SetProperties(key, values))
        return read()

    ifs = ("oic.if.rw" if writable else "oic.if.r", "oic.if.baseline")
    return ServedResource(href, rts, ifs, observable, read, write if writable else None)


def _method_resource(layout: VirtualLayout, href: str, rt: str, key: str,
                     method: GenericMember, command: Commander) -> ServedResource:
    by_ocf = {naming.alljoyn_to_ocf_property(name): name for name, _ in method.in_args}

    async def write(body: dict[str, Any]) -> Mapping[str, Value]:
        kept = known_properties(body, by_ocf, f"{href} ({method.name})")
        args = {by_ocf[name]: value for name, value in kept.items()}
        out = await command(InvokeMethod(key, method.name, args))
        result = {naming.alljoyn_to_ocf_property(k): v for k, v in out.items()}
        layout.last[href] = result
        return result

    return ServedResource(href, (rt,), ("oic.if.rw", "oic.if.baseline"), False,
                          _last(layout, href), write)


def signal_values(args: Mapping[str, Value]) -> dict[str, Value]:
    """A signal's arguments in OCF property spelling (for its resource's notifications)."""
    result: dict[str, Value] = {}
    for name, value in args.items():
        try:
            result[naming.alljoyn_to_ocf_property(name)] = value
        except naming.NamingError:
            result[name] = value
    return result
