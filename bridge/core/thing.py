"""Things: the gateway's one picture of a device, whichever side it came from.

Layer: ``bridge.core`` (pure: no I/O, no protocol library). An origin adapter builds a
:class:`Thing` from what it discovered; the registry owns it from then on; every other side
reads it to expose a virtual copy. The records are slotted dataclasses: there are a few for every
bridged device, and an instance dictionary each would cost more than their fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from bridge.core.limits import PropertyLimits, effective_spec
from bridge.model.types import CapabilityModel, PropertySpec, Value


class Side(StrEnum):
    """Where a device lives or where a command comes from."""

    OCF = "ocf"
    ALLJOYN = "alljoyn"
    MQTT = "mqtt"
    CONTROL = "control"


@dataclass(slots=True)
class Identity:
    """Both spellings of a device's identity.

    For a device that originates on OCF, ``di``/``piid``/``pi`` are the device's own and
    ``app_id``/``device_id`` are the virtual AllJoyn identity; for an AllJoyn device it is the
    other way round. The virtual half is assigned once by :class:`bridge.core.identity.IdentityBook`
    and persisted, so it survives restarts and a device that comes back with a fresh ``di``.
    """

    di: str = ""
    piid: str = ""
    pi: str = ""
    app_id: bytes = b""
    device_id: str = ""


@dataclass(slots=True)
class DeviceInfo:
    """Descriptive facts: About fields on AllJoyn, ``/oic/d`` and ``/oic/p`` on OCF."""

    name: str
    manufacturer: str = ""
    model: str = ""
    sw_version: str = ""
    hw_version: str = ""
    description: str = ""
    date_of_manufacture: str = ""
    support_url: str = ""
    #: OCF device types (``oic.d.light``...), without ``oic.wk.d``.
    device_types: tuple[str, ...] = ()
    #: every other field, by its origin's name (About field or ``/oic/d`` property).
    extra: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class GenericProperty:
    """A property of a capability that no model covers.

    ``name`` is spelled as on the origin side; ``signature`` is the D-Bus type (inferred from
    the value for OCF devices).
    """

    name: str
    signature: str
    access: Literal["r", "rw"]
    #: AllJoyn EmitsChangedSignal value ("true", "false", "invalidates", "const"); OCF
    #: properties of observable resources are "true", others "false".
    emits_changed: str = "true"


@dataclass(frozen=True)
class GenericMember:
    """A method or a signal of an uncovered AllJoyn interface: its arguments."""

    name: str
    in_args: tuple[tuple[str, str], ...] = ()
    out_args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class GenericSpec:
    """An interface or resource that crosses through the generic (algorithmic) mapping.

    ``interface`` is the AllJoyn interface name and ``resource_types`` the OCF resource types of
    the origin (for an AllJoyn origin: empty, each side derives them with ``bridge.naming``).
    """

    interface: str
    resource_types: tuple[str, ...] = ()
    properties: tuple[GenericProperty, ...] = ()
    methods: tuple[GenericMember, ...] = ()
    signals: tuple[GenericMember, ...] = ()
    observable: bool = False

    def property(self, name: str) -> GenericProperty | None:
        for prop in self.properties:
            if prop.name == name:
                return prop
        return None

    def method(self, name: str) -> GenericMember | None:
        for method in self.methods:
            if method.name == name:
                return method
        return None


@dataclass(slots=True)
class Capability:
    """One capability instance of a Thing with its current state.

    Exactly one of ``model`` (semantic mapping; ``state`` holds canonical values) and
    ``generic`` (algorithmic mapping; ``state`` holds origin-named values) is set.
    """

    key: str
    instance: str
    model: CapabilityModel | None = None
    generic: GenericSpec | None = None
    state: dict[str, Value] = field(default_factory=dict)
    #: origin-side facts an adapter needs again (for example OCF units, the link's ``if``).
    origin_meta: dict[str, Value] = field(default_factory=dict)
    #: limits the device declares, by canonical property (canonical units); they override
    #: the model's range, step and precision field by field. Empty: the model's apply.
    limits: dict[str, PropertyLimits] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return self.model.id if self.model else "generic"

    def spec(self, name: str) -> PropertySpec | None:
        """Canonical property ``name`` as this device has it: the model's, with the device's
        own limits over the defaults. None for generic capabilities and unknown names."""
        if self.model is None:
            return None
        return effective_spec(self.model, name, self.limits)

    @property
    def specs(self) -> tuple[PropertySpec, ...]:
        """Every canonical property of a model capability as this device has it."""
        if self.model is None:
            return ()
        return tuple(effective_spec(self.model, p.name, self.limits) or p
                     for p in self.model.properties)


@dataclass(slots=True)
class Thing:
    """A device as the gateway knows it."""

    id: str
    origin: Side
    identity: Identity
    info: DeviceInfo
    capabilities: dict[str, Capability] = field(default_factory=dict)
    available: bool = True
    #: created by a bridge (``oic.d.virtual``): known, but bridged only when its grace period
    #: is over and no native device with the same identity exists on the target side.
    virtual: bool = False
    #: set by the daemon once a virtual Thing's grace period has passed.
    grace_expired: bool = False
    #: why the gateway cannot bridge it (e.g. secure-only endpoints); empty when it can.
    not_bridgeable: str = ""
    #: the friendly name used for MQTT topics, assigned once and persisted.
    friendly_name: str = ""
    #: counters and facts the origin side keeps for operators (``ocfaj devices --json``),
    #: e.g. how often an OCF device was read in full; updated in place by that side.
    diagnostics: dict[str, Value] = field(default_factory=dict)
    #: what the user needs to see of how a side secures this Thing's virtual copy, by side
    #: (``"ocf"``: owned or not, onboarding state, the Random PIN while unowned); set in
    #: place by that side.
    security: dict[str, Value] = field(default_factory=dict)

    def capability(self, key: str) -> Capability | None:
        return self.capabilities.get(key)

    @property
    def device_type(self) -> str:
        """The main OCF device type (``oic.d.light``), or ``oic.d.unknown``."""
        for dtype in self.info.device_types:
            if dtype not in ("oic.wk.d", "oic.d.virtual", "oic.d.bridge"):
                return dtype
        return "oic.d.unknown"


def assign_capability_keys(models: list[tuple[str, str]]) -> list[str]:
    """Stable keys for capabilities given as (base key, instance) pairs.

    The first instance of a base key (ordered by instance path) keeps the plain base key, later
    ones get ``_2``, ``_3``... so a lamp with one switch has the key ``switch`` on every side.
    """
    order = sorted(range(len(models)), key=lambda i: (models[i][0], models[i][1]))
    seen: dict[str, int] = {}
    keys = [""] * len(models)
    for index in order:
        base = models[index][0]
        seen[base] = seen.get(base, 0) + 1
        keys[index] = base if seen[base] == 1 else f"{base}_{seen[base]}"
    return keys
