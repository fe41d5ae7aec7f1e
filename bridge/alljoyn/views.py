"""How one capability looks as one AllJoyn interface, in both directions.

Layer: ``bridge.alljoyn``. Pure mapping between a ``Capability`` (canonical state, or origin
state for generic ones) and the properties, methods and signals of one AllJoyn interface. The
producer uses it to answer Get/Set/method calls and to build PropertiesChanged; the consumer
uses :meth:`InterfaceView.canonical` to turn a device's properties into state. No bus I/O here.

Incoming writes are checked in AllJoyn terms first, so an error names the AllJoyn property and
its allowed range as the caller sees it (``Brightness = 1.5 is out of range 0..1``) rather than
the canonical spelling; the registry checks again before anything reaches a device.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from bridge import naming
from bridge.alljoyn.errors import FeatureNotAvailable
from bridge.alljoyn.interfaces import InterfaceDecl, MemberDecl, PropertyDecl
from bridge.alljoyn.wire import from_dbus, is_integer_signature, to_dbus, zero
from bridge.core.errors import CommandError, OutOfRange, ReadOnly, WrongType
from bridge.core.limits import PropertyLimits, effective_spec
from bridge.core.registry import Command, InvokeMethod, SetProperties
from bridge.core.thing import Capability, GenericMember, GenericProperty, GenericSpec
from bridge.core.values import check_signature_value, check_value, from_side, to_side
from bridge.model.signature import INTEGER_RANGES
from bridge.model.types import (
    AllJoynInterfaceBinding,
    AllJoynPropertyBinding,
    BoundKind,
    CapabilityModel,
    PropertySpec,
    Transform,
    Value,
    ValueBinding,
)

VERSION = "Version"
_NO_LIMITS: Mapping[str, PropertyLimits] = MappingProxyType({})
#: The declaration and properties by name of each model binding, made once per process and
#: shared by every view of it (each virtual producer has its own views): id(binding) ->
#: (binding, declaration, properties). The bindings belong to the model catalogue, which
#: lives as long as the process, so an id is never reused while it is here.
_DECLARED: dict[int, tuple[AllJoynInterfaceBinding, InterfaceDecl,
                           Mapping[str, AllJoynPropertyBinding]]] = {}


class InterfaceView(abc.ABC):
    """One AllJoyn interface of one capability (``key``)."""

    __slots__ = ()
    decl: InterfaceDecl
    key: str

    @abc.abstractmethod
    def read(self, cap: Capability, name: str) -> Any:
        """The D-Bus value of property ``name`` (which the declaration has)."""

    def read_all(self, cap: Capability) -> dict[str, Any]:
        return {prop.name: self.read(cap, prop.name) for prop in self.decl.properties}

    @abc.abstractmethod
    def write(self, name: str, value: Any) -> Command:
        """The command for a Set of property ``name``; CommandError when it is refused."""

    @abc.abstractmethod
    def call(self, method: MemberDecl, body: list[Any]) -> Command:
        """The command for a call of ``method`` with a body matching its in-signature."""

    def reply(self, method: MemberDecl, answer: Mapping[str, Value]) -> list[Any]:
        """The out-arguments of ``method`` from the command's answer."""
        return []

    @abc.abstractmethod
    def changes(self, cap: Capability,
                changed: Mapping[str, Value]) -> tuple[dict[str, Any], list[str]]:
        """(changed D-Bus properties with values, invalidated names) for changed state keys."""

    @abc.abstractmethod
    def canonical(self, props: Mapping[str, Value]) -> dict[str, Value]:
        """State values for properties read from a device (values unwrapped, by name)."""


def _clamp(signature: str, value: Any) -> Any:
    """Keep an integer inside its D-Bus type, so a bad origin value cannot break marshalling."""
    if signature in INTEGER_RANGES and isinstance(value, int | float):
        low, high = INTEGER_RANGES[signature]
        number = round(value) if isinstance(value, float) and math.isfinite(value) else value
        return min(max(int(number), low), high)
    return value


def tidy(value: Value) -> Value:
    """Drop binary noise of scaling (45 * 0.01 = 0.45000000000000001): canonical values are
    far coarser than 12 decimal places."""
    return round(value, 12) if isinstance(value, float) and math.isfinite(value) else value


def _safe(signature: str, value: Value, name: str) -> Any:
    if value is None:
        return zero(signature)
    try:
        return to_dbus(signature, _clamp(signature, value), name)
    except CommandError:
        return zero(signature)


def _declared(binding: AllJoynInterfaceBinding) -> tuple[
        InterfaceDecl, Mapping[str, AllJoynPropertyBinding]]:
    known = _DECLARED.get(id(binding))
    if known is None or known[0] is not binding:
        decl = InterfaceDecl(
            binding.name,
            properties=(PropertyDecl(VERSION, "q", "read", "const"),
                        *(PropertyDecl(pb.name, pb.signature, pb.access, pb.emits_changed)
                          for pb in binding.properties)),
            methods=tuple(MemberDecl(mb.name, tuple((a, s) for a, s, _ in mb.in_args))
                          for mb in binding.methods),
        )
        known = _DECLARED[id(binding)] = (
            binding, decl, MappingProxyType({pb.name: pb for pb in binding.properties}))
    return known[1], known[2]


class ModelInterfaceView(InterfaceView):
    """An interface of a model's AllJoyn binding (semantic mapping)."""

    __slots__ = ("_props", "_specs", "binding", "decl", "key", "limits", "model")

    def __init__(self, key: str, model: CapabilityModel, binding: AllJoynInterfaceBinding,
                 limits: Mapping[str, PropertyLimits] | None = None) -> None:
        self.key = key
        self.model = model
        self.binding = binding
        #: the device's own limits (``Capability.limits``): bounds and write checks use them.
        self.limits: Mapping[str, PropertyLimits] = dict(limits) if limits else _NO_LIMITS
        self.decl, self._props = _declared(binding)
        #: canonical name -> its spec with this device's limits (both fixed for the view);
        #: None without limits of its own: the model's specs are the device's.
        self._specs: dict[str, PropertySpec] | None = {} if limits else None

    def value_binding(self, canonical: str) -> ValueBinding:
        """The binding that carries ``canonical`` on AllJoyn (identity when none does)."""
        for iface in self.model.alljoyn.interfaces:
            for pb in iface.properties:
                if pb.value is not None and pb.value.canonical == canonical:
                    return pb.value
        return ValueBinding(canonical=canonical)

    def _spec(self, canonical: str) -> PropertySpec:
        specs = self._specs
        spec = specs.get(canonical) if specs is not None else None
        if spec is None:
            spec = effective_spec(self.model, canonical, self.limits)
            assert spec is not None, "the model loader checked every canonical reference"
            if specs is not None:
                specs[canonical] = spec
        return spec

    def read(self, cap: Capability, name: str) -> Any:
        if name == VERSION:
            return self.binding.version
        pb = self._props[name]
        return _safe(pb.signature, self._side_value(cap, pb), name)

    def _side_value(self, cap: Capability, pb: AllJoynPropertyBinding) -> Value:
        integer = is_integer_signature(pb.signature)
        try:
            if pb.value is not None:
                current = cap.state.get(pb.value.canonical)
                return None if current is None else tidy(to_side(pb.value, current,
                                                                 integer=integer))
            if pb.bound is not None:
                return self._bound(*pb.bound, integer=integer)
        except CommandError:
            return None
        return pb.const

    def _bound(self, canonical: str, which: BoundKind, *, integer: bool) -> Value:
        """A limit of ``canonical`` on this side: the device's where declared, else the
        model's; None (read as 0) when neither states it."""
        spec = self._spec(canonical)
        vb = self.value_binding(canonical)
        if which in ("min", "max"):
            limit = spec.minimum if which == "min" else spec.maximum
            return None if limit is None else tidy(to_side(vb, limit, integer=integer))
        delta = spec.step if which == "step" else spec.precision
        if delta is None or vb.transform not in (Transform.IDENTITY, Transform.SCALE):
            return None  # a difference means nothing through a map or a reciprocal
        side = delta * vb.scale if vb.transform is Transform.SCALE else delta
        return round(side) if integer else tidy(side)

    def _side_range(self, canonical: str, signature: str) -> str:
        spec = self._spec(canonical)
        if spec.type == "enum":
            return "one of " + ", ".join(repr(v) for v in spec.values)
        vb = self.value_binding(canonical)
        integer = is_integer_signature(signature)
        ends = [("-inf" if b is None else f"{to_side(vb, b, integer=integer):g}")
                for b in (spec.minimum, spec.maximum)]
        return f"{ends[0]}..{ends[1]}"

    def _to_canonical(self, label: str, signature: str, canonical: str, value: Any) -> Value:
        spec = self._spec(canonical)
        side = check_signature_value(label, signature, from_dbus(signature, value))
        try:
            return check_value(spec, from_side(self.value_binding(canonical), side, spec))
        except OutOfRange:
            raise OutOfRange(f"{label} = {side!r} is out of range "
                             f"{self._side_range(canonical, signature)}", prop=label) from None
        except WrongType as err:
            raise WrongType(f"{label}: {err.message}", prop=label) from None

    def write(self, name: str, value: Any) -> Command:
        label = f"{self.binding.name}.{name}"
        pb = self._props.get(name)
        if pb is None or pb.access != "readwrite" or pb.value is None:
            raise ReadOnly(f"{label} is read-only", capability=self.key, prop=name)
        canonical = pb.value.canonical
        return SetProperties(self.key, {canonical: self._to_canonical(label, pb.signature,
                                                                      canonical, value)})

    def call(self, method: MemberDecl, body: list[Any]) -> Command:
        mb = next(m for m in self.binding.methods if m.name == method.name)
        if mb.unavailable:
            raise FeatureNotAvailable(f"{self.binding.name}.{mb.name}() is not available: "
                                      f"{mb.unavailable}", capability=self.key)
        values: dict[str, Value] = dict(mb.sets)
        for (arg, sig, canonical), value in zip(mb.in_args, body, strict=True):
            values[canonical] = self._to_canonical(f"{self.binding.name}.{mb.name}({arg})", sig,
                                                   canonical, value)
        return SetProperties(self.key, values)

    def changes(self, cap: Capability,
                changed: Mapping[str, Value]) -> tuple[dict[str, Any], list[str]]:
        values: dict[str, Any] = {}
        invalidated: list[str] = []
        for pb in self.binding.properties:
            if pb.value is None or pb.value.canonical not in changed:
                continue
            if pb.emits_changed == "true":
                values[pb.name] = self.read(cap, pb.name)
            elif pb.emits_changed == "invalidates":
                invalidated.append(pb.name)
        return values, invalidated

    def canonical(self, props: Mapping[str, Value]) -> dict[str, Value]:
        state: dict[str, Value] = {}
        for name, value in props.items():
            pb = self._props.get(name)
            if pb is None or pb.value is None:
                continue
            spec = self._spec(pb.value.canonical)
            try:
                state[spec.name] = from_side(pb.value, value, spec)
            except CommandError:
                continue  # a value the model cannot express: keep the last good one
        return state


class GenericInterfaceView(InterfaceView):
    """An interface that crosses through the generic mapping (``Capability.generic``).

    ``translate_names`` is set for origins whose member names follow OCF spelling, which the
    generic mapping turns into valid D-Bus names (``.`` -> ``_d``, ``-`` -> ``_h``).
    """

    __slots__ = ("_arg_origin", "_dbus_name", "_prop_origin", "decl", "key", "spec")

    def __init__(self, key: str, spec: GenericSpec, translate_names: bool = False) -> None:
        self.key = key
        self.spec = spec
        tr = naming.ocf_to_alljoyn_property if translate_names else (lambda n: n)
        self._prop_origin = {tr(p.name): p for p in spec.properties}
        self._arg_origin: dict[tuple[str, str], str] = {}

        def member(m: GenericMember) -> MemberDecl:
            for origin, _ in (*m.in_args, *m.out_args):
                self._arg_origin[(m.name, tr(origin))] = origin
            return MemberDecl(m.name, tuple((tr(n), s) for n, s in m.in_args),
                              tuple((tr(n), s) for n, s in m.out_args))

        self.decl = InterfaceDecl(
            spec.interface,
            properties=tuple(PropertyDecl(name, p.signature,
                                          "readwrite" if p.access == "rw" else "read",
                                          p.emits_changed)
                             for name, p in self._prop_origin.items()),
            methods=tuple(member(m) for m in spec.methods),
            signals=tuple(member(s) for s in spec.signals),
        )
        self._dbus_name = {p.name: name for name, p in self._prop_origin.items()}

    def read(self, cap: Capability, name: str) -> Any:
        prop = self._prop_origin[name]
        return _safe(prop.signature, cap.state.get(prop.name), name)

    def write(self, name: str, value: Any) -> Command:
        prop: GenericProperty = self._prop_origin[name]
        label = f"{self.spec.interface}.{name}"
        if prop.access != "rw":
            raise ReadOnly(f"{label} is read-only", capability=self.key, prop=name)
        checked = check_signature_value(label, prop.signature, from_dbus(prop.signature, value))
        return SetProperties(self.key, {prop.name: checked})

    def call(self, method: MemberDecl, body: list[Any]) -> Command:
        args = {self._arg_origin[(method.name, name)]: from_dbus(sig, value)
                for (name, sig), value in zip(method.in_args, body, strict=True)}
        return InvokeMethod(self.key, method.name, args)

    def reply(self, method: MemberDecl, answer: Mapping[str, Value]) -> list[Any]:
        return [_safe(sig, answer.get(self._arg_origin[(method.name, name)]), name)
                for name, sig in method.out_args]

    def signal_body(self, signal: MemberDecl, args: Mapping[str, Value]) -> list[Any]:
        return [_safe(sig, args.get(self._arg_origin[(signal.name, name)]), name)
                for name, sig in signal.in_args]

    def changes(self, cap: Capability,
                changed: Mapping[str, Value]) -> tuple[dict[str, Any], list[str]]:
        values: dict[str, Any] = {}
        invalidated: list[str] = []
        for origin in changed:
            name = self._dbus_name.get(origin)
            if name is None:
                continue
            emits = self._prop_origin[name].emits_changed
            if emits == "true":
                values[name] = self.read(cap, name)
            elif emits == "invalidates":
                invalidated.append(name)
        return values, invalidated

    def canonical(self, props: Mapping[str, Value]) -> dict[str, Value]:
        return {self._prop_origin[name].name: value for name, value in props.items()
                if name in self._prop_origin}


def generic_spec(decl: InterfaceDecl) -> GenericSpec:
    """The GenericSpec of an AllJoyn interface a device introspected."""
    props = tuple(GenericProperty(p.name, p.signature,
                                  "rw" if p.access in ("readwrite", "write") else "r",
                                  p.emits_changed)
                  for p in decl.properties if p.access != "write")
    return GenericSpec(
        interface=decl.name,
        properties=props,
        methods=tuple(GenericMember(m.name, m.in_args, m.out_args) for m in decl.methods),
        signals=tuple(GenericMember(s.name, s.in_args) for s in decl.signals),
        observable=bool(decl.signals) or any(p.emits_changed in ("true", "invalidates")
                                             for p in props),
    )


def views_of(cap: Capability, translate_names: bool) -> list[InterfaceView]:
    """Every AllJoyn interface view of a capability, primary interface first."""
    if cap.model is not None:
        model = cap.model
        return [ModelInterfaceView(cap.key, model, b, cap.limits)
                for b in model.alljoyn.interfaces]
    assert cap.generic is not None
    return [GenericInterfaceView(cap.key, cap.generic, translate_names)]
