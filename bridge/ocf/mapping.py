"""Resource types <-> capabilities: the semantic mapping through the models, and the generic one.

Layer: ``bridge.ocf``, pure: no socket, no asyncio, no aiocoap. Values cross through
``bridge.core.values`` (``to_side``/``from_side``) only. A link whose resource type a model
covers becomes a model capability; any other resource type becomes a generic capability
(docs/protocol-notes.md, "Generic mapping"), so nothing a device offers is dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bridge import naming
from bridge.core.errors import ReadOnly, UnknownProperty
from bridge.core.limits import PropertyLimits
from bridge.core.thing import Capability, GenericProperty, GenericSpec, assign_capability_keys
from bridge.core.values import from_side, from_side_keeping, to_side
from bridge.model.types import (
    CapabilityModel,
    Catalogue,
    OcfPropertyBinding,
    PropertySpec,
    Value,
)
from bridge.ocf.declared import PRECISION, RANGE, STEP, declared_limits, declared_properties
from bridge.ocf.links import Link

#: Properties every OCF resource may carry (baseline interface); never part of a capability.
COMMON_PROPERTIES = frozenset({"rt", "if", "n", "id", "p", "eps", "anchor", "href", "links"})
#: Core resource types that describe the device itself, not a capability of it.
_CORE_PREFIXES = ("oic.wk.", "oic.r.doxm", "oic.r.pstat", "oic.r.acl", "oic.r.cred",
                  "oic.r.csr", "oic.r.roles", "oic.r.sp", "oic.r.sdi", "oic.r.ael",
                  "oic.r.crl", "oic.r.vodlist", "oic.r.introspection", "oic.r.icon",
                  "oic.r.swu", "oic.r.maintenance", "oic.r.nmon", "oic.d.")
_KEY_CHARS = re.compile(r"[^A-Za-z0-9]+")
#: What a device declares about its value (``bridge.ocf.declared``): read-only to clients.
_DECLARED = frozenset({RANGE, STEP, PRECISION})


def is_core_resource_type(rt: str) -> bool:
    return rt.startswith(_CORE_PREFIXES)


def is_core_link(link: Link) -> bool:
    """A link of the device itself (``/oic/d`` carries ``oic.wk.d`` plus the device type)."""
    return any(is_core_resource_type(rt) for rt in link.rts)


def _integer(model: CapabilityModel, canonical: str) -> bool:
    spec = model.property(canonical)
    return spec is not None and spec.type == "integer"


def model_state(model: CapabilityModel, props: Mapping[str, Any],
                reported: Mapping[str, Value] | None = None,
                current: Mapping[str, Value] | None = None) -> dict[str, Value]:
    """Canonical values of a model capability from an OCF representation.

    Properties the representation lacks, or carries in a form the model cannot read, are left
    out: the capability keeps its previous value for them. ``reported`` holds what the device
    said when it was read (its ``units``), for notifications that leave it out. A ``current``
    canonical value the representation spells the same way is kept (3000 K stays 3000 K,
    though 333 mired reads as 3003 K).
    """
    units, readable = _readable(model)
    side_props: Mapping[str, Any] = props
    if units and reported:
        # The device's reported unit where this representation leaves it out.
        missing = {k: reported[k] for k in units if k not in props and k in reported}
        if missing:
            side_props = {**missing, **props}
    state: dict[str, Value] = {}
    for binding, spec in readable:
        if binding.name not in props:
            continue
        try:
            state[spec.name] = from_side_keeping(binding.value, props[binding.name], spec,
                                                 current or {}, side_props=side_props)
        except Exception:  # a wrong-typed value from the device: keep the old one
            continue
    return state


def _readable(model: CapabilityModel) -> tuple[
        frozenset[str], tuple[tuple[OcfPropertyBinding, PropertySpec], ...]]:
    """The unit properties of ``model``'s OCF binding and its properties with their specs,
    in the binding's order: made once per model, not for every notification."""
    known = _READABLE.get(id(model))
    if known is None or known[0] is not model:
        units = frozenset(b.value.units_property for b in model.ocf.properties
                          if b.value.units_property)
        pairs = tuple((b, spec) for b in model.ocf.properties
                      if (spec := model.property(b.value.canonical)) is not None)
        known = _READABLE[id(model)] = (model, units, pairs)
    return known[1], known[2]


#: id(model) -> (model, what :func:`_readable` gives); kept as :data:`_PROPERTY_NAMES` is.
_READABLE: dict[int, tuple[CapabilityModel, frozenset[str],
                           tuple[tuple[OcfPropertyBinding, PropertySpec], ...]]] = {}


def model_representation(model: CapabilityModel, state: Mapping[str, Value],
                         limits: Mapping[str, PropertyLimits] | None = None) -> dict[str, Value]:
    """The OCF representation (properties only) of a model capability's canonical ``state``.

    ``limits`` the device declares replace the model's constant ``range`` (and add ``step``,
    ``precision``), in the representation's unit.
    """
    props: dict[str, Value] = {k: list(v) if isinstance(v, tuple) else v
                               for k, v in model.ocf.constants}
    if limits:
        props.update(declared_properties(model, limits, props))
    for binding in model.ocf.properties:
        canonical = binding.value.canonical
        if canonical in state:
            props[binding.name] = to_side(binding.value, state[canonical],
                                          integer=_integer(model, canonical), side_props=props)
    return props


def model_property_names(model: CapabilityModel) -> frozenset[str]:
    """Every name :func:`model_write` understands: the model's properties, its unit property,
    its constants and the common properties (the last two only to refuse them as read-only).
    Made once per model (every virtual device's resource of the model asks)."""
    known = _PROPERTY_NAMES.get(id(model))
    if known is None or known[0] is not model:
        units = {b.value.units_property for b in model.ocf.properties if b.value.units_property}
        names = frozenset({b.name for b in model.ocf.properties} | units
                          | {k for k, _ in model.ocf.constants} | COMMON_PROPERTIES)
        known = _PROPERTY_NAMES[id(model)] = (model, names)
    return known[1]


#: id(model) -> (model, its names); models belong to the catalogue, which lives as long as
#: the process, so an id is not reused while it is here.
_PROPERTY_NAMES: dict[int, tuple[CapabilityModel, frozenset[str]]] = {}


def model_write(model: CapabilityModel, body: Mapping[str, Any]) -> dict[str, Value]:
    """Canonical values of an OCF POST body in the model's property names.

    The unit property of a temperature (``units``) may come along to say how the value is
    spelled; other constants and common properties are read-only. Type and range checks are
    the registry's (``check_write``) once the names are canonical.
    """
    constants = dict(model.ocf.constants)
    units_props = {b.value.units_property for b in model.ocf.properties if b.value.units_property}
    side_props = {**constants, **{k: body[k] for k in units_props if k in body}}
    for key in units_props & set(body):
        if body[key] not in ("C", "F", "K"):
            raise UnknownProperty(f"{key} must be one of 'C', 'F', 'K', got {body[key]!r}",
                                  prop=key)
    values: dict[str, Value] = {}
    for name, value in body.items():
        if name in units_props:
            continue
        binding = next((b for b in model.ocf.properties if b.name == name), None)
        if binding is None:
            if name in constants or name in COMMON_PROPERTIES or name in _DECLARED:
                raise ReadOnly(f"{model.ocf.resource_type}: {name} is read-only", prop=name)
            known = ", ".join(b.name for b in model.ocf.properties)
            raise UnknownProperty(f"{model.ocf.resource_type} has no property {name!r} "
                                  f"(known: {known})", prop=name)
        spec = model.property(binding.value.canonical)
        assert spec is not None  # the model loader checks every binding's canonical name
        values[spec.name] = from_side(binding.value, value, spec, side_props=side_props)
    if not values:
        raise UnknownProperty(f"empty write to {model.ocf.resource_type}: name a property")
    return values


def signature_of(value: Any) -> str:
    """The D-Bus signature a generic OCF property gets, inferred from its value."""
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int):
        return "x"
    if isinstance(value, float):
        return "d"
    if isinstance(value, bytes):
        return "ay"
    if isinstance(value, dict):
        return "a{sv}"
    if isinstance(value, list):
        return "av"
    return "s"


def generic_interface(rt: str) -> str:
    """The AllJoyn interface name of an uncovered resource type.

    ``x.`` types map back exactly (``naming.ocf_rt_to_alljoyn``); any other type is spelled as
    if it had the prefix (``oic.r.foo`` -> ``oic.r.foo``, ``oic.r.my-x`` -> ``oic.r.myX``), which
    ``naming.alljoyn_to_ocf_rt`` turns into ``x.`` + the type: reversible, documented.
    Raises ``naming.NamingError`` when the type has no AllJoyn spelling.
    """
    return naming.ocf_rt_to_alljoyn(rt if rt.startswith("x.") else f"x.{rt}")


def generic_spec(link: Link, rt: str, props: Mapping[str, Any]) -> GenericSpec:
    writable = "oic.if.a" in link.ifs or "oic.if.rw" in link.ifs
    emits = "true" if link.observable else "false"
    properties = tuple(
        GenericProperty(name=name, signature=signature_of(value),
                        access="rw" if writable else "r", emits_changed=emits)
        for name, value in sorted(props.items()) if name not in COMMON_PROPERTIES
    )
    return GenericSpec(interface=generic_interface(rt), resource_types=(rt,),
                       properties=properties, observable=link.observable)


def generic_key(rt: str) -> str:
    return _KEY_CHARS.sub("_", rt).strip("_").lower() or "resource"


def build_capabilities(links: list[Link], catalogue: Catalogue,
                       props_by_href: Mapping[str, Mapping[str, Any]]) -> dict[str, Capability]:
    """Capabilities of one device from its links and the representations read from them.

    Each non-core resource type of each link becomes one capability per role it plays
    (``Catalogue.ocf_roles``: a temperature offering ``oic.if.s`` and ``oic.if.a`` is both the
    measured and the target temperature, on the same href). A model capability takes the
    limits the representation declares (``range``, ``step``, ``precision``, in its ``units``)
    over the model's defaults. Types without a model or generic spelling are left out (the
    caller logs them through :func:`unmapped_types`).
    """
    pending: list[tuple[str, str, Capability]] = []
    for link in sorted(links, key=lambda item: item.href):
        if is_core_link(link):
            continue
        props = props_by_href.get(link.href, {})
        for rt in link.rts:
            if is_core_resource_type(rt):
                continue
            roles = catalogue.ocf_roles([rt], link.ifs)
            meta: dict[str, Value] = {"href": link.href, "rt": rt, "if": link.ifs,
                                      "observable": link.observable}
            if roles:
                # the unit a device reports is also the unit writes must use
                meta.update({k: props[k] for k in ("units",) if isinstance(props.get(k), str)})
                for model in roles:
                    cap = Capability(key="", instance=link.href, model=model,
                                     state=model_state(model, props), origin_meta=dict(meta),
                                     limits=declared_limits(model, props, link.href))
                    pending.append((model.id, f"{link.href}#{rt}", cap))
                continue
            try:
                spec = generic_spec(link, rt, props)
            except naming.NamingError:
                continue
            state = {p.name: props[p.name] for p in spec.properties}
            cap = Capability(key="", instance=link.href, generic=spec, state=state,
                             origin_meta=meta)
            pending.append((generic_key(rt), f"{link.href}#{rt}", cap))
    keys = assign_capability_keys([(base, instance) for base, instance, _ in pending])
    result: dict[str, Capability] = {}
    for key, (_, _, cap) in zip(keys, pending, strict=True):
        cap.key = key
        result[key] = cap
    return result


def unmapped_types(links: list[Link]) -> list[str]:
    """Resource types that cannot cross at all (no model and no AllJoyn spelling), for logs."""
    missing: list[str] = []
    for link in links:
        if is_core_link(link):
            continue
        for rt in link.rts:
            try:
                generic_interface(rt)
            except naming.NamingError:
                missing.append(f"{link.href} ({rt})")
    return missing


def observed_hrefs(links: list[Link], catalogue: Catalogue) -> set[str]:
    """The hrefs the gateway observes: observable links (``bm`` bit 2) that carry at least one
    capability (:func:`build_capabilities` gives each capability ``observable`` from its link)."""
    observed: set[str] = set()
    for link in links:
        if not link.observable or is_core_link(link):
            continue
        for rt in link.rts:
            try:
                if catalogue.ocf_roles([rt], link.ifs) or generic_interface(rt):
                    observed.add(link.href)
                    break
            except naming.NamingError:
                continue
    return observed
