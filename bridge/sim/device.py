"""The protocol-independent half of a simulated device: its capabilities and state.

Layer: ``bridge.sim``. A :class:`SimDevice` holds canonical state built from the shared models;
the OCF and AllJoyn simulators (``bridge.sim.ocf``, ``bridge.sim.alljoyn``) wrap it in a real
protocol server. Tests and users change the state from outside with :meth:`SimDevice.set`
(observers see notifications) and await what clients wrote with :meth:`SimDevice.next_received`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bridge.core.limits import PropertyLimits, effective_spec, ranged_property
from bridge.core.values import check_value, check_write
from bridge.model.types import CapabilityModel, Catalogue, PropertySpec, Value

log = logging.getLogger("ocfaj.sim")

#: Plausible starting values, by canonical property name, where zero would look odd.
_DEFAULTS: dict[str, Value] = {
    "temperature": 21.5, "target_temperature": 21.0, "humidity": 45, "charge": 87,
    "brightness": 60, "hue": 30.0, "saturation": 50, "colour_temperature": 3000,
    "locked": True, "power": 7.5, "energy": 12.25,
}

ChangeListener = Callable[[str, Mapping[str, Value]], None]
#: OCF hrefs that faults leave alone unless ``Faults.paths`` names them.
CORE_PATHS = frozenset({"/oic/res", "/oic/d", "/oic/p"})


@dataclass(frozen=True)
class Received:
    """A write that a client sent to the simulated device."""

    capability: str
    values: Mapping[str, Value]


#: How a simulated OCF resource may answer a request to observe it (``Faults.observe_answer``).
OBSERVE_ANSWERS = ("observe", "plain", "error", "silent")


class FaultAction(enum.Enum):
    """What a simulator does with one request (see :class:`Faults`)."""

    ANSWER = "answer"
    DROP = "drop"
    ERROR = "error"
    MALFORMED = "malformed"


@dataclass
class Faults:
    """Fault injection for users testing their own error handling.

    Shares are probabilities in 0..1, drawn per request; ``delay`` seconds are added to every
    answer. An injected error answers with ``error_code`` (a CoAP-style number: CoAP servers
    send it as the response code, D-Bus peers as ``org.openconnectivity.Error.Code<NNN>``).
    ``paths`` (OCF only) names the hrefs the faults apply to, the core ones included
    (``/oic/res``, ``/oic/d``, ``/oic/p``); empty, they apply to every resource of the device
    except those three, so that a faulty device is still found and identified.
    ``observe_answer`` (OCF only) is how a resource listed as observable answers a request to
    observe it: ``observe`` (it does), ``plain`` (a plain read, without an Observe option:
    not observable after all), ``error`` (refused with ``error_code``) or ``silent`` (not
    answered at all); plain reads are not affected.
    """

    drop: float = 0.0
    delay: float = 0.0
    error: float = 0.0
    error_code: int = 503
    malformed: float = 0.0
    seed: int | None = None
    paths: tuple[str, ...] = ()
    observe_answer: str = "observe"

    def __post_init__(self) -> None:
        if self.observe_answer not in OBSERVE_ANSWERS:
            raise ValueError(f"faults.observe_answer must be one of {', '.join(OBSERVE_ANSWERS)}"
                             f", got {self.observe_answer!r}")
        for name in ("drop", "error", "malformed"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"faults.{name} must be a share between 0 and 1, got {share}")
        if self.delay < 0:
            raise ValueError(f"faults.delay must be >= 0 seconds, got {self.delay}")
        for path in self.paths:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError(f"faults.paths must be hrefs starting with '/', got {path!r}")
        self._random = random.Random(self.seed)

    @property
    def active(self) -> bool:
        return bool(self.drop or self.delay or self.error or self.malformed
                    or self.observe_answer != "observe")

    def applies_to(self, path: str) -> bool:
        """Whether a request to ``path`` (an OCF href) gets these faults."""
        if not self.active:
            return False
        if self.paths:
            return path in self.paths
        return path not in CORE_PATHS

    def decide(self) -> FaultAction:
        """The fate of the next request."""
        draw = self._random.random()
        for action, share in ((FaultAction.DROP, self.drop), (FaultAction.ERROR, self.error),
                              (FaultAction.MALFORMED, self.malformed)):
            if draw < share:
                return action
            draw -= share
        return FaultAction.ANSWER


def default_value(spec: PropertySpec) -> Value:
    if spec.name in _DEFAULTS:
        try:
            return check_value(spec, _DEFAULTS[spec.name])
        except Exception:  # the model's range excludes the default: fall through
            pass
    if spec.type == "boolean":
        return False
    if spec.type == "enum":
        return spec.values[0]
    if spec.type == "string":
        return ""
    low = spec.minimum if spec.minimum is not None else 0
    return int(low) if spec.type == "integer" else float(low)


class SimDevice:
    """A simulated device of any model, independent of the protocol that serves it."""

    def __init__(self, name: str, catalogue: Catalogue, capabilities: list[str],
                 device_type: str = "", manufacturer: str = "ocfaj simulator",
                 model: str = "sim-1") -> None:
        self.name = name
        self.manufacturer = manufacturer
        self.model = model
        self.capabilities: dict[str, CapabilityModel] = {}
        self.state: dict[str, dict[str, Value]] = {}
        for cap_id in capabilities:
            cap = catalogue.capability(cap_id)
            if cap is None:
                raise ValueError(f"unknown capability {cap_id!r}")
            self.capabilities[cap_id] = cap
            self.state[cap_id] = {p.name: default_value(p) for p in cap.properties}
        guessed = catalogue.guess_device_type(capabilities)
        self.device_type = device_type or (guessed.ocf_device_type if guessed else "oic.d.sensor")
        #: fault injection the protocol server applies to each request it answers.
        self.faults = Faults()
        #: limits the device declares (:meth:`declare`), by capability and canonical property.
        self.limits: dict[str, dict[str, PropertyLimits]] = {}
        #: groups of capabilities served as one resource that share one value (:meth:`combine`).
        self.combined: list[tuple[str, ...]] = []
        self._listeners: list[ChangeListener] = []
        self._received: asyncio.Queue[Received] = asyncio.Queue()
        self.received_log: list[Received] = []

    @classmethod
    def of_type(cls, name: str, catalogue: Catalogue, device_type: str,
                with_optional: bool = True) -> SimDevice:
        """A device with the capabilities of a device type model (``light``, ``oic.d.light``)."""
        model = catalogue.device_type(device_type)
        if model is None:
            known = ", ".join(d.id for d in catalogue.device_types)
            raise ValueError(f"unknown device type {device_type!r} (known: {known})")
        caps = list(model.required) + (list(model.optional) if with_optional else [])
        return cls(name, catalogue, caps, device_type=model.ocf_device_type)

    def declare(self, capability: str, limits: PropertyLimits) -> None:
        """Declare the device's own limits of a capability's value (canonical units).

        They replace the model's defaults in this device's checks, and the OCF simulator
        serves them as the resource's ``range``, ``step`` and ``precision``. ValueError when
        the capability has no single numeric value or the limits are not ordered.
        """
        self._known(capability)
        spec = ranged_property(self._cap(capability))
        if spec is None:
            raise ValueError(f"{capability} has no single numeric value to declare limits of")
        if limits.minimum is not None and limits.maximum is not None \
                and limits.minimum > limits.maximum:
            raise ValueError(f"{capability}: min {limits.minimum} is above max {limits.maximum}")
        if (limits.step is not None and limits.step <= 0) or (
                limits.precision is not None and limits.precision < 0):
            raise ValueError(f"{capability}: step must be > 0 and precision >= 0")
        self.limits[capability] = {spec.name: limits}

    def combine(self, capabilities: tuple[str, ...]) -> None:
        """Serve ``capabilities`` as one resource (a sensor that is also an actuator, like
        a ``/temp`` offering ``oic.if.s`` and ``oic.if.a``): they carry one value, so a change
        of one's value is a change of the others'. They must share the resource type and the
        unit of their single numeric value."""
        for capability in capabilities:
            self._known(capability)
        models = [self._cap(c) for c in capabilities]
        specs = [ranged_property(m) for m in models]
        if len(capabilities) < 2 or any(s is None for s in specs) \
                or len({m.ocf.resource_type for m in models}) != 1 \
                or len({s.unit for s in specs if s is not None}) != 1:
            raise ValueError(f"{', '.join(capabilities)}: only two or more capabilities of one "
                             "resource type with one numeric value of the same unit combine")
        if any(c in group for group in self.combined for c in capabilities):
            raise ValueError(f"{', '.join(capabilities)}: a capability is combined already")
        self.combined.append(tuple(capabilities))

    def spec(self, capability: str, name: str) -> PropertySpec | None:
        """Property ``name`` of ``capability`` with the limits this device declares."""
        return effective_spec(self._cap(capability), name, self.limits.get(capability))

    def on_change(self, listener: ChangeListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def set(self, capability: str, values: Mapping[str, Value]) -> dict[str, Value]:
        """Change state from outside (sensor reading, local button): observers are notified."""
        checked: dict[str, Value] = {}
        for name, value in values.items():
            spec = self.spec(capability, name)
            if spec is None:
                raise ValueError(f"{capability} has no property {name!r}")
            checked[name] = check_value(spec, value)
        return self._apply(capability, checked)

    def write(self, capability: str, values: Mapping[str, Value]) -> dict[str, Value]:
        """A client's write: checked like the model says, recorded, then applied."""
        cap = self._cap(capability)
        checked = check_write(cap, values, self.limits.get(capability))
        received = Received(capability, dict(checked))
        self.received_log.append(received)
        self._received.put_nowait(received)
        log.info("%s: %s <- %s", self.name, capability, checked)
        return self._apply(capability, checked)

    async def next_received(self, within: float = 5.0) -> Received:
        """The next write a client sent (waits up to ``within`` seconds)."""
        async with asyncio.timeout(within):
            return await self._received.get()

    def _known(self, capability: str) -> None:
        if capability not in self.capabilities:
            raise ValueError(f"{self.name} has no capability {capability!r} (it has: "
                             f"{', '.join(self.capabilities)})")

    def _cap(self, capability: str) -> CapabilityModel:
        cap = self.capabilities.get(capability)
        if cap is None:
            raise KeyError(f"{self.name} has no capability {capability!r}")
        return cap

    def _apply(self, capability: str, values: Mapping[str, Value]) -> dict[str, Value]:
        state = self.state[capability]
        changed = {k: v for k, v in values.items() if state.get(k) != v}
        state.update(values)
        if changed:
            # combined capabilities first, so that a notification shows the shared value
            self._share(capability, changed)
            for listener in list(self._listeners):
                try:
                    listener(capability, changed)
                except Exception:
                    log.exception("%s: change listener failed", self.name)
        return changed

    def _share(self, capability: str, changed: Mapping[str, Value]) -> None:
        """Pass a changed value on to the capabilities combined with ``capability``."""
        source = ranged_property(self._cap(capability))
        if source is None or source.name not in changed:
            return
        for group in self.combined:
            for other in group if capability in group else ():
                target = ranged_property(self._cap(other)) if other != capability else None
                spec = self.spec(other, target.name) if target is not None else None
                if spec is None:
                    continue
                try:
                    value = check_value(spec, changed[source.name])
                except Exception:  # outside the other's range (a set point range): not shared
                    log.debug("%s: %s = %r not shared with %s", self.name, source.name,
                              changed[source.name], other)
                    continue
                self._apply(other, {spec.name: value})
