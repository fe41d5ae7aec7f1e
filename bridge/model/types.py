"""The shared data model, as typed, immutable Python objects.

Layer: ``bridge.model``. These classes describe capabilities and device types as the files in
``models/`` define them; the loader (``bridge.model.loader``) builds them after validating each
file. Nothing here does I/O or imports another part of ``bridge``.

Vocabulary:
- *canonical* property: the value a capability has inside the gateway, independent of any protocol
  (for example brightness as an integer percentage, temperatures in degrees Celsius).
- *binding*: how one protocol side spells a capability (OCF resource type and property names,
  AllJoyn interfaces and members, the MQTT / Home Assistant entity), including the value transform
  between the side's value and the canonical value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

#: A JSON-like value as it travels inside the gateway.
Value = Any

ValueType = Literal["boolean", "integer", "number", "string", "enum"]
Access = Literal["r", "rw"]


class Transform(Enum):
    """How a side's value relates to the canonical value of one property."""

    IDENTITY = "identity"
    #: side = canonical * scale (integers on the side are rounded).
    SCALE = "scale"
    #: side value looked up in ``value_map`` (side value -> canonical value) and back.
    MAP = "map"
    #: a temperature whose unit is given by a sibling property (OCF ``units``: C, F or K);
    #: canonical is degrees Celsius.
    TEMPERATURE_UNITS = "temperature_units"
    #: side = scale / canonical, and canonical = scale / side (mired <-> kelvin with scale 1e6;
    #: integers on the side are rounded). Added by the models engineer for colour temperature.
    RECIPROCAL = "reciprocal"


@dataclass(frozen=True)
class PropertySpec:
    """A canonical property of a capability."""

    name: str
    type: ValueType
    access: Access
    description: str = ""
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    #: how finely the value is resolved (AllJoyn ``Precision``); None: not stated.
    precision: float | None = None
    #: allowed values when ``type`` is "enum".
    values: tuple[str, ...] = ()

    @property
    def writable(self) -> bool:
        return self.access == "rw"


@dataclass(frozen=True)
class ValueBinding:
    """How one side's property carries a canonical property."""

    canonical: str
    transform: Transform = Transform.IDENTITY
    scale: float = 1.0
    #: side value -> canonical value; used by ``Transform.MAP``. The loader turns the TOML
    #: string keys into typed side values (``"true"`` -> True, ``"3"`` -> 3, ``"Locked"`` ->
    #: "Locked"; see docs/models.md), so adapters compare wire values directly.
    value_map: tuple[tuple[Value, Value], ...] = ()
    #: for ``Transform.TEMPERATURE_UNITS``: the name of the side property holding the unit.
    units_property: str | None = None


@dataclass(frozen=True)
class OcfPropertyBinding:
    """One OCF resource property mapped to a canonical property."""

    name: str
    value: ValueBinding


@dataclass(frozen=True)
class OcfBinding:
    """The OCF spelling of a capability: one resource type on one resource."""

    resource_type: str
    interfaces: tuple[str, ...]
    #: the interface a client uses by default (first entry of ``if`` on the link).
    default_interface: str
    observable: bool
    properties: tuple[OcfPropertyBinding, ...]
    #: constant extra properties the resource carries (for example ``{"units": "C"}``).
    constants: tuple[tuple[str, Value], ...] = ()
    #: device types that commonly host this resource (documentation only).
    href_hint: str = ""

    def property_for(self, canonical: str) -> OcfPropertyBinding | None:
        for prop in self.properties:
            if prop.value.canonical == canonical:
                return prop
        return None


EmitsChanged = Literal["true", "false", "invalidates", "const"]
#: which limit of a canonical property an AllJoyn ``bound`` property reports.
BoundKind = Literal["min", "max", "step", "precision"]


@dataclass(frozen=True)
class AllJoynPropertyBinding:
    """One property of an AllJoyn interface.

    Exactly one of ``value`` (carries a canonical property), ``const`` (a constant such as a
    fixed maximum) or ``bound`` (the minimum / maximum of a canonical property's range, or its
    step or precision, transformed like that property) is set. A bound follows the device's own
    limits where it declares them (``bridge.core.limits``), the model's otherwise.
    """

    name: str
    signature: str
    access: Literal["read", "readwrite"]
    emits_changed: EmitsChanged
    value: ValueBinding | None = None
    const: Value = None
    bound: tuple[str, BoundKind] | None = None


@dataclass(frozen=True)
class AllJoynMethodBinding:
    """A method of an AllJoyn interface that acts on canonical properties.

    ``sets`` gives constant assignments (``SwitchOn`` sets ``on = true``). Methods with arguments
    list them in ``in_args`` as (name, signature, canonical property) triples. A method of the
    interface definition that no device of the capability can carry out has ``unavailable``,
    the reason: it is offered (consumers expect the whole interface) and answers
    ``org.alljoyn.Error.FeatureNotAvailable``.
    """

    name: str
    sets: tuple[tuple[str, Value], ...] = ()
    in_args: tuple[tuple[str, str, str], ...] = ()
    unavailable: str = ""


@dataclass(frozen=True)
class AllJoynInterfaceBinding:
    name: str
    version: int
    properties: tuple[AllJoynPropertyBinding, ...] = ()
    methods: tuple[AllJoynMethodBinding, ...] = ()
    #: True when this interface is defined by this project because AllJoyn has no standard one.
    project_defined: bool = False


@dataclass(frozen=True)
class AllJoynBinding:
    """The AllJoyn spelling of a capability: one or more interfaces on one object.

    The first interface is the *primary* one: its presence on an object selects this capability.
    """

    interfaces: tuple[AllJoynInterfaceBinding, ...]
    object_path_hint: str = ""

    @property
    def primary(self) -> AllJoynInterfaceBinding:
        return self.interfaces[0]

    def interface(self, name: str) -> AllJoynInterfaceBinding | None:
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        return None


@dataclass(frozen=True)
class MqttBinding:
    """The Home Assistant entity of a capability."""

    component: str
    #: the canonical property that is the entity's main state.
    state_property: str
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = None
    icon: str | None = None
    #: for switch/lock-like components: canonical values for ON/OFF payloads.
    payload_on: Value = None
    payload_off: Value = None
    #: further entities of the same capability (a power meter's energy total next to its
    #: power); each names its own ``state_property``. Never nested further.
    additional_entities: tuple[MqttBinding, ...] = ()

    @property
    def entities(self) -> tuple[MqttBinding, ...]:
        """This entity followed by the additional ones."""
        return (self, *self.additional_entities)


@dataclass(frozen=True)
class CapabilityModel:
    """One capability, as one file under ``models/capabilities/`` defines it."""

    id: str
    title: str
    description: str
    properties: tuple[PropertySpec, ...]
    ocf: OcfBinding
    alljoyn: AllJoynBinding
    mqtt: MqttBinding
    source_file: str = ""

    def property(self, name: str) -> PropertySpec | None:
        for prop in self.properties:
            if prop.name == name:
                return prop
        return None


@dataclass(frozen=True)
class DeviceTypeModel:
    """A device type (``oic.d.light``...) as a set of capabilities."""

    id: str
    title: str
    ocf_device_type: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    source_file: str = ""


@dataclass(frozen=True)
class Catalogue:
    """All capability and device type models, with the lookups the adapters need."""

    capabilities: tuple[CapabilityModel, ...]
    device_types: tuple[DeviceTypeModel, ...]
    _by_id: dict[str, CapabilityModel] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({cap.id: cap for cap in self.capabilities})

    def capability(self, capability_id: str) -> CapabilityModel | None:
        return self._by_id.get(capability_id)

    def by_ocf(self, resource_types: list[str] | tuple[str, ...],
               interfaces: list[str] | tuple[str, ...] = ()) -> CapabilityModel | None:
        """The capability for an OCF link, or None when no model covers it.

        Several capabilities may share a resource type (``oic.r.temperature`` is a current
        temperature behind ``oic.if.s`` and a target temperature behind ``oic.if.a``): the one
        whose default interface the link offers wins; otherwise the first match.
        """
        roles = self.ocf_roles(resource_types, interfaces)
        return roles[0] if roles else None

    def ocf_roles(self, resource_types: list[str] | tuple[str, ...],
                  interfaces: list[str] | tuple[str, ...] = ()) -> tuple[CapabilityModel, ...]:
        """Every capability an OCF link plays: one per model whose default interface it offers.

        A ``oic.r.temperature`` link with ``oic.if.s`` and ``oic.if.a`` is read as a sensor and
        written as an actuator: both the measured and the target temperature. A link offering
        none of the default interfaces plays the first matching model only; () when no model
        covers the resource type.
        """
        matches = [cap for cap in self.capabilities if cap.ocf.resource_type in resource_types]
        offered = tuple(cap for cap in matches if cap.ocf.default_interface in interfaces)
        return offered or tuple(matches[:1])

    def by_alljoyn_interface(self, interface: str) -> CapabilityModel | None:
        """The capability whose primary AllJoyn interface is ``interface``."""
        for cap in self.capabilities:
            if cap.alljoyn.primary.name == interface:
                return cap
        return None

    def owning_alljoyn_interface(self, interface: str) -> CapabilityModel | None:
        """The capability that lists ``interface`` among its interfaces (primary or not)."""
        for cap in self.capabilities:
            if cap.alljoyn.interface(interface) is not None:
                return cap
        return None

    def by_mqtt_component(self, component: str) -> tuple[CapabilityModel, ...]:
        """The capabilities whose main Home Assistant entity is a ``component``."""
        return tuple(cap for cap in self.capabilities if cap.mqtt.component == component)

    def device_type(self, ocf_device_type: str) -> DeviceTypeModel | None:
        for dev in self.device_types:
            if dev.ocf_device_type == ocf_device_type or dev.id == ocf_device_type:
                return dev
        return None

    def guess_device_type(self, capability_ids: list[str]) -> DeviceTypeModel | None:
        """The device type whose required capabilities are all present, most specific first.

        Ties (a light and a switch both require only ``switch``) go to the type whose optional
        capabilities the device has most of, then to the one with fewer optional capabilities:
        a bare switch is a switch, a switch with brightness a light.
        """
        present = set(capability_ids)
        candidates = [dev for dev in self.device_types if set(dev.required) <= present]
        if not candidates:
            return None
        return max(candidates, key=lambda dev: (len(dev.required),
                                                len(present & set(dev.optional)),
                                                -len(dev.optional)))
