"""The registry of Things and the one place commands are checked and routed.

Layer: ``bridge.core`` (pure apart from awaiting the origin adapter's coroutine). Origin adapters
put Things in, update their state and availability; every side subscribes to the event bus to
expose them. A command from any side comes through :meth:`Registry.command`: it is checked
against the model (or the generic signature), the access policy and availability, and only then
handed to the origin side's :class:`CommandHandler`.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.core.errors import (
    CommandError,
    DeviceUnavailable,
    NotAllowed,
    ReadOnly,
    UnknownCapability,
    UnknownProperty,
    UnknownThing,
)
from bridge.core.events import (
    AvailabilityChanged,
    CommandRejected,
    EventBus,
    SignalEmitted,
    StateChanged,
    ThingAdded,
    ThingRemoved,
    ThingUpdated,
)
from bridge.core.policy import Policy
from bridge.core.text import MAX_INFO_LENGTH, check_texts, cut
from bridge.core.thing import Capability, DeviceInfo, Side, Thing
from bridge.core.values import check_signature_value, check_write
from bridge.model.types import Value

log = logging.getLogger("ocfaj.registry")


@dataclass(frozen=True)
class SetProperties:
    """Write properties of one capability.

    Model capabilities take canonical names and values; generic ones take origin-side names.
    Method-based actions (AllJoyn ``SwitchOn``) arrive here already turned into property writes.
    """

    capability: str
    values: Mapping[str, Value]


@dataclass(frozen=True)
class InvokeMethod:
    """Call a method of a generic capability (arguments by name, origin-side spelling)."""

    capability: str
    method: str
    args: Mapping[str, Value] = field(default_factory=dict)


Command = SetProperties | InvokeMethod


class CommandHandler(abc.ABC):
    """Implemented by each origin side; the registry calls it for checked commands only.

    The registry owns the Thing; the handler must not keep it beyond the call. Errors from the
    device are raised as :class:`bridge.core.errors.DeviceError` (with a CoAP-style code) and
    every call has a bounded duration (the handler applies its side's timeout).
    """

    @abc.abstractmethod
    async def execute(self, thing: Thing, command: Command) -> Mapping[str, Value]:
        """Carry out ``command`` on the origin device.

        Returns the capability's new values as far as the answer tells them (may be empty): for
        a method call, its out-arguments by name.
        """

    @abc.abstractmethod
    async def refresh(self, thing: Thing, capability: str) -> Mapping[str, Value]:
        """Read the capability's current values from the device (and return them)."""

    def reads_through(self, thing: Thing, capability: str) -> bool:
        """Whether a read another side answers should first ask the device
        (:meth:`Registry.read_through`): true where the origin cannot follow every change
        of the capability's state (properties that do not signal). The default: never."""
        return False

    def fresh(self, thing: Thing, capability: str) -> bool:
        """Whether a :meth:`refresh` now would answer from the kept state without asking the
        device (read a moment ago). The default: never fresh."""
        return False

    def fresh_until(self, thing: Thing, capability: str) -> float:
        """Until when (``time.monotonic()``) :meth:`fresh` holds, as far as time alone goes
        (-inf: not fresh now). The default: never fresh."""
        return -math.inf


class Registry:
    """All Things by id, with state, availability and command routing."""

    def __init__(self, bus: EventBus, policy: Policy | None = None) -> None:
        self.bus = bus
        self.policy = policy or Policy()
        self._things: dict[str, Thing] = {}
        self._handlers: dict[Side, CommandHandler] = {}

    # -- origin side API ---------------------------------------------------------------------

    def register_handler(self, side: Side, handler: CommandHandler) -> None:
        self._handlers[side] = handler

    def upsert(self, thing: Thing) -> Thing:
        """Add a Thing, or replace the one with the same id (same device came back).

        The stored object for an id stays the same Python object across updates, so sides may
        keep references; its fields are replaced.
        """
        thing.info = _bounded_info(thing)
        current = self._things.get(thing.id)
        if current is None:
            if not self.policy.allows_thing(thing):
                log.info("%s (%s): not bridged, the policy denies it", thing.info.name, thing.id)
            self._things[thing.id] = thing
            log.info("found %s device %s (%s) with %s", thing.origin, thing.info.name, thing.id,
                     ", ".join(thing.capabilities) or "no capabilities")
            self.bus.publish(ThingAdded(thing))
            return thing
        was_available = current.available
        changed = (current.capabilities.keys() != thing.capabilities.keys()
                   or current.info != thing.info or current.identity != thing.identity
                   or current.not_bridgeable != thing.not_bridgeable
                   or _limits(current) != _limits(thing))
        old_states = {key: dict(cap.state) for key, cap in current.capabilities.items()}
        current.identity = thing.identity
        current.info = thing.info
        current.capabilities = thing.capabilities
        current.virtual = thing.virtual
        current.not_bridgeable = thing.not_bridgeable
        current.available = thing.available
        if changed:
            self.bus.publish(ThingUpdated(current))
        else:
            for key, cap in current.capabilities.items():
                diff = _diff(old_states.get(key, {}), cap.state)
                if diff:
                    self.bus.publish(StateChanged(current, key, diff))
        if was_available != current.available:
            log.info("%s (%s) is %s again", current.info.name, current.id,
                     "available" if current.available else "unavailable")
            self.bus.publish(AvailabilityChanged(current, current.available))
        return current

    def set_available(self, thing_id: str, available: bool, reason: str = "") -> None:
        thing = self._things.get(thing_id)
        if thing is None or thing.available == available:
            return
        thing.available = available
        log.info("%s (%s) is now %s%s", thing.info.name, thing.id,
                 "available" if available else "unavailable", f": {reason}" if reason else "")
        self.bus.publish(AvailabilityChanged(thing, available))

    def update_state(self, thing_id: str, capability: str,
                     values: Mapping[str, Value]) -> dict[str, Value]:
        """Merge new values of one capability; publishes and returns only what changed."""
        thing = self._things.get(thing_id)
        if thing is None:
            return {}
        cap = thing.capabilities.get(capability)
        if cap is None:
            return {}
        diff = _diff(cap.state, values)
        if diff:
            cap.state.update(diff)
            self.bus.publish(StateChanged(thing, capability, diff))
        return diff

    def emit_signal(self, thing_id: str, capability: str, signal: str,
                    args: Mapping[str, Value]) -> None:
        thing = self._things.get(thing_id)
        if thing is not None and capability in thing.capabilities:
            self.bus.publish(SignalEmitted(thing, capability, signal, dict(args)))

    def remove(self, thing_id: str) -> None:
        thing = self._things.pop(thing_id, None)
        if thing is not None:
            log.info("removed %s (%s)", thing.info.name, thing.id)
            self.bus.publish(ThingRemoved(thing))

    # -- readers -------------------------------------------------------------------------------

    def get(self, thing_id: str) -> Thing | None:
        return self._things.get(thing_id)

    def __iter__(self) -> Iterator[Thing]:
        return iter(list(self._things.values()))

    def __len__(self) -> int:
        return len(self._things)

    def exposable(self, thing: Thing, to_side: Side) -> bool:
        """True when ``thing`` should get a virtual copy on ``to_side``."""
        if thing.origin == to_side or thing.not_bridgeable or to_side not in (Side.OCF,
                                                                              Side.ALLJOYN,
                                                                              Side.MQTT):
            return False
        if thing.virtual and (not thing.grace_expired or self._has_native_twin(thing, to_side)):
            return False
        return self.policy.allows_thing(thing, to_side)

    def _has_native_twin(self, thing: Thing, side: Side) -> bool:
        """Is the device behind a virtual ``thing`` present natively on ``side``?

        Another bridge's virtual copy carries identities derived from the native device (the
        virtual ``di`` is the native AppId, the virtual AppId the native ``di``), so a match on
        ``piid`` or AppId finds the native one.
        """
        mine = thing.identity
        for other in self._things.values():
            if other is thing or other.virtual or (side != Side.MQTT and other.origin != side):
                continue
            theirs = other.identity
            if (mine.piid and mine.piid == theirs.piid) or (
                    mine.app_id and mine.app_id == theirs.app_id):
                return True
        return False

    # -- commands ------------------------------------------------------------------------------

    def check(self, thing_id: str, command: Command, source: Side) -> tuple[Thing, Command]:
        """Validate ``command`` completely; returns the Thing and the normalised command."""
        thing = self._things.get(thing_id)
        if thing is None:
            raise UnknownThing(f"no device {thing_id!r}", thing=thing_id)
        cap = thing.capabilities.get(command.capability)
        if cap is None:
            raise UnknownCapability(
                f"{thing.info.name} has no capability {command.capability!r}",
                thing=thing_id, capability=command.capability)
        if not self.policy.allows_command(thing, cap, source):
            raise NotAllowed(f"the policy does not allow {source} to control "
                             f"{thing.info.name}.{cap.key}", thing=thing_id, capability=cap.key)
        _check_command_texts(thing, command)
        normalised = _check_command(cap, command)
        if not thing.available:
            raise DeviceUnavailable(f"{thing.info.name} is unavailable", thing=thing_id,
                                    capability=cap.key)
        return thing, normalised

    async def command(self, thing_id: str, command: Command, source: Side) -> dict[str, Value]:
        """Check and route ``command`` to the origin; returns the answer's values.

        Rejections raise :class:`CommandError` subclasses (and publish ``CommandRejected``);
        device errors raise :class:`bridge.core.errors.DeviceError`.
        """
        try:
            thing, normalised = self.check(thing_id, command, source)
        except CommandError as err:
            log.warning("refused %s command for %s.%s: %s", source, thing_id,
                        command.capability, err.message)
            self.bus.publish(CommandRejected(thing_id, command.capability, source, err.reason,
                                             err.message))
            raise
        handler = self._handlers.get(thing.origin)
        if handler is None:
            raise DeviceUnavailable(f"the {thing.origin} side is not running", thing=thing_id)
        answer = dict(await handler.execute(thing, normalised))
        if isinstance(normalised, SetProperties):
            cap = thing.capabilities[normalised.capability]
            applied = {k: v for k, v in answer.items() if k in cap.state or cap.model is not None}
            self.update_state(thing_id, normalised.capability, applied)
        return answer

    async def refresh(self, thing_id: str, capability: str) -> dict[str, Value]:
        thing = self._things.get(thing_id)
        if thing is None:
            raise UnknownThing(f"no device {thing_id!r}", thing=thing_id)
        handler = self._handlers.get(thing.origin)
        if handler is None or not thing.available:
            raise DeviceUnavailable(f"{thing.info.name} is unavailable", thing=thing_id)
        values = await handler.refresh(thing, capability)
        self.update_state(thing_id, capability, values)
        return dict(values)

    def read_due(self, thing_id: str, capability: str) -> bool:
        """Whether :meth:`read_through` would ask the device now: a serving path that answers
        from the kept state (a cached representation) must not while this is true."""
        thing = self._things.get(thing_id)
        handler = self._handlers.get(thing.origin) if thing is not None else None
        return (thing is not None and handler is not None and thing.available
                and capability in thing.capabilities
                and handler.reads_through(thing, capability)
                and not handler.fresh(thing, capability))

    async def read_through(self, thing_id: str, capability: str) -> bool:
        """Before another side answers a read of ``capability``: refresh it from the device
        when its origin says the kept state may be behind (``CommandHandler.reads_through``;
        the handler bounds how often the device is asked). Returns whether it was read.

        A Thing that is unavailable or unknown is left to the caller's own answer; a failing
        read raises as :meth:`refresh` does."""
        if not self.reads_through(thing_id, capability):
            return False
        await self.refresh(thing_id, capability)
        return True

    def fresh_until(self, thing_id: str, capability: str) -> float:
        """Until when (``time.monotonic()``) a serving path may answer ``capability`` from the
        kept state without :meth:`read_due` turning true by time alone: inf when it never
        reads through, -inf when a read is due now. A change of availability or
        capabilities, which may change it, comes with an event of its own."""
        thing = self._things.get(thing_id)
        handler = self._handlers.get(thing.origin) if thing is not None else None
        if not (thing is not None and handler is not None and thing.available
                and capability in thing.capabilities
                and handler.reads_through(thing, capability)):
            return math.inf
        return handler.fresh_until(thing, capability)

    def reads_through(self, thing_id: str, capability: str) -> bool:
        """Whether :meth:`read_through` would ask the device now."""
        thing = self._things.get(thing_id)
        handler = self._handlers.get(thing.origin) if thing is not None else None
        return (thing is not None and handler is not None and thing.available
                and capability in thing.capabilities
                and handler.reads_through(thing, capability))


def _bounded_info(thing: Thing) -> DeviceInfo:
    """The device's descriptive texts cut to :data:`MAX_INFO_LENGTH`, said once per device."""
    info = thing.info
    long = {f.name: value for f in dataclasses.fields(info)
            if isinstance(value := getattr(info, f.name), str) and len(value) > MAX_INFO_LENGTH}
    if not long:
        return info
    log.warning("%s (%s): cut %s to %d characters (they were %s long)",
                cut(info.name, 60), thing.id, ", ".join(long), MAX_INFO_LENGTH,
                ", ".join(str(len(v)) for v in long.values()))
    cuts: dict[str, Any] = {k: cut(v, MAX_INFO_LENGTH) for k, v in long.items()}
    return dataclasses.replace(info, **cuts)


def _check_command_texts(thing: Thing, command: Command) -> None:
    # Before the model check, so that the error says what is wrong with the text; NUL only
    # where the origin is reached over D-Bus, whose strings cannot hold it.
    values = command.args if isinstance(command, InvokeMethod) else command.values
    for name, value in values.items():
        check_texts(f"{command.capability}.{name}", value, nul=thing.origin is not Side.ALLJOYN)


def _check_command(cap: Capability, command: Command) -> Command:
    if cap.model is not None:
        if isinstance(command, InvokeMethod):
            raise UnknownProperty(f"{cap.key} has no method {command.method!r}",
                                  capability=cap.key)
        return SetProperties(cap.key, check_write(cap.model, command.values, cap.limits))
    assert cap.generic is not None
    spec = cap.generic
    if isinstance(command, InvokeMethod):
        method = spec.method(command.method)
        if method is None:
            raise UnknownProperty(f"{cap.key} has no method {command.method!r}",
                                  capability=cap.key)
        args: dict[str, Value] = {}
        for name, signature in method.in_args:
            if name not in command.args:
                raise UnknownProperty(f"{cap.key}.{method.name}: argument {name!r} is missing",
                                      capability=cap.key, prop=name)
            args[name] = check_signature_value(name, signature, command.args[name])
        extra = set(command.args) - {name for name, _ in method.in_args}
        if extra:
            raise UnknownProperty(f"{cap.key}.{method.name} has no argument "
                                  f"{sorted(extra)[0]!r}", capability=cap.key)
        return InvokeMethod(cap.key, method.name, args)
    if not command.values:
        raise UnknownProperty(f"empty write to {cap.key}", capability=cap.key)
    values: dict[str, Value] = {}
    for name, value in command.values.items():
        prop = spec.property(name)
        if prop is None:
            raise UnknownProperty(f"{cap.key} has no property {name!r}", capability=cap.key,
                                  prop=name)
        if prop.access != "rw":
            raise ReadOnly(f"{cap.key}.{name} is read-only", capability=cap.key, prop=name)
        values[name] = check_signature_value(name, prop.signature, value)
    return SetProperties(cap.key, values)


def _limits(thing: Thing) -> dict[str, object]:
    """The device-declared limits of every capability: a change re-exports the Thing."""
    return {key: cap.limits for key, cap in thing.capabilities.items()}


def _diff(old: Mapping[str, Value], new: Mapping[str, Value]) -> dict[str, Value]:
    return {k: v for k, v in new.items()
            if k not in old or old[k] != v or type(old[k]) is not type(v)}
