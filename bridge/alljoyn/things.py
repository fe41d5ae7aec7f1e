"""From what an AllJoyn device told us (About, objects, introspection, properties) to a Thing.

Layer: ``bridge.alljoyn``, pure (no bus I/O). The consumer gathers the facts and calls
:func:`plan_capabilities`, reads the properties of the planned interfaces, then calls
:func:`build_thing`. Identities come only from ``IdentityBook.for_alljoyn_device``.

Selection: on each announced object, an interface that is the *primary* interface of a model
makes that model's capability, and the model's other interfaces on the same object belong to it
(``OnOffStatus`` + ``OnControl`` + ``OffControl`` are one ``switch``). Every other interface
that may cross goes through the generic mapping, using the object's introspection.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.alljoyn.about import VIRTUAL_INTERFACE, info_from_about, never_bridged
from bridge.alljoyn.interfaces import InterfaceDecl
from bridge.alljoyn.views import InterfaceView, generic_spec, views_of
from bridge.core.identity import IdentityBook
from bridge.core.sharing import SHARED
from bridge.core.thing import Capability, Side, Thing, assign_capability_keys
from bridge.model.types import CapabilityModel, Catalogue, Value

log = logging.getLogger("ocfaj.alljoyn.things")

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass
class PlannedCapability:
    """A capability to build on one object: a model's or one generic interface."""

    path: str
    interfaces: list[str]
    model: CapabilityModel | None = None
    decl: InterfaceDecl | None = None
    props: dict[str, dict[str, Value]] = field(default_factory=dict)
    #: interface -> {property: EmitsChangedSignal} for the properties that do not signal.
    unsignalled: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def base_key(self) -> str:
        if self.model is not None:
            return self.model.id
        return _CAMEL.sub("_", self.interfaces[0].rsplit(".", 1)[-1]).lower()


def is_virtual(objects: list[tuple[str, list[str]]]) -> bool:
    return any(VIRTUAL_INTERFACE in ifaces for _, ifaces in objects)


def plan_capabilities(objects: list[tuple[str, list[str]]],
                      decls: Mapping[str, Mapping[str, InterfaceDecl]],
                      catalogue: Catalogue, label: str = "") -> list[PlannedCapability]:
    """The capabilities of a device from its object description and introspection."""
    planned: list[PlannedCapability] = []
    for path, announced in objects:
        ifaces = [i for i in dict.fromkeys(announced) if not never_bridged(i)]
        covered: set[str] = set()
        for iface in ifaces:
            model = catalogue.by_alljoyn_interface(iface)
            if model is None:
                continue
            present = [b.name for b in model.alljoyn.interfaces if b.name in ifaces]
            covered.update(present)
            bound = {b.name: {p.name for p in b.properties} for b in model.alljoyn.interfaces}
            planned.append(PlannedCapability(
                path, present, model=model,
                unsignalled=_unsignalled(decls.get(path, {}), present, bound)))
        for iface in ifaces:
            if iface in covered:
                continue
            decl = decls.get(path, {}).get(iface)
            if decl is None:
                log.warning("%s: %s on %s is announced but not introspectable; skipped",
                            label, iface, path)
                continue
            planned.append(PlannedCapability(
                path, [iface], decl=decl,
                unsignalled=_unsignalled({iface: decl}, [iface],
                                         {iface: {p.name for p in decl.properties}})))
    return planned


def _unsignalled(decls: Mapping[str, InterfaceDecl], interfaces: list[str],
                 bound: Mapping[str, set[str]]) -> dict[str, dict[str, str]]:
    """The properties of ``interfaces`` that carry state (``bound``) and whose introspection
    says they never appear in PropertiesChanged ("false" or "const")."""
    found: dict[str, dict[str, str]] = {}
    for iface in interfaces:
        decl = decls.get(iface)
        if decl is None:
            continue
        quiet = {p.name: p.emits_changed for p in decl.properties
                 if p.emits_changed in ("false", "const") and p.name in bound.get(iface, ())}
        if quiet:
            found[iface] = quiet
    return found


def build_thing(about: Mapping[str, Any], objects: list[tuple[str, list[str]]],
                planned: list[PlannedCapability], book: IdentityBook,
                catalogue: Catalogue) -> Thing:
    """The Thing of a device whose About data is valid."""
    thing_id, identity = book.for_alljoyn_device(about["DeviceId"], about["AppId"], about)
    keys = assign_capability_keys([(p.base_key, p.path) for p in planned])
    caps: dict[str, Capability] = {}
    for key, plan in zip(keys, planned, strict=True):
        cap = Capability(key=key, instance=plan.path, model=plan.model,
                         generic=generic_spec(plan.decl) if plan.decl is not None else None,
                         origin_meta={"path": SHARED.share(plan.path),
                                      "interfaces": [SHARED.share(i) for i in plan.interfaces],
                                      "unsignalled": plan.unsignalled})
        for view in consumer_views(cap):
            cap.state.update(view.canonical(plan.props.get(view.decl.name, {})))
        caps[key] = cap
    model_ids = [p.model.id for p in planned if p.model is not None]
    dtype = catalogue.guess_device_type(model_ids) if model_ids else None
    info = info_from_about(about, (dtype.ocf_device_type,) if dtype else ())
    return Thing(id=thing_id, origin=Side.ALLJOYN, identity=identity, info=info,
                 capabilities=caps, virtual=is_virtual(objects))


def polled_interfaces(cap: Capability, with_const: bool) -> list[str]:
    """The interfaces of ``cap`` to read periodically: those holding properties that do not
    signal (``const`` ones only ``with_const``)."""
    unsignalled: Mapping[str, Mapping[str, str]] = cap.origin_meta.get("unsignalled", {})
    return [iface for iface, props in unsignalled.items()
            if any(emits == "false" or with_const for emits in props.values())]



def has_unsignalled(cap: Capability) -> bool:
    """Whether ``polled_interfaces(cap, with_const=True)`` is not empty, without building it:
    an interface of ``cap`` has a property that does not signal (asked per GET by the lean
    path, through ``AllJoynCommands.reads_through``)."""
    unsignalled: Mapping[str, Mapping[str, str]] = cap.origin_meta.get("unsignalled", {})
    return any(unsignalled.values())

def consumer_views(cap: Capability) -> list[InterfaceView]:
    """The views of the interfaces a device really has for ``cap``."""
    present = cap.origin_meta.get("interfaces", [])
    return [v for v in views_of(cap, translate_names=False) if v.decl.name in present]
