"""Fault injection for simulated AllJoyn devices: dropped, delayed, failed and garbled replies.

Layer: ``bridge.sim`` (dbus-fast glue around the AllJoyn side's producer). :func:`install_faults`
puts a gate in front of a running :class:`~bridge.alljoyn.producer.AllJoynProducer`'s message
handler; for each method call to one of the device's objects (its interfaces' methods and
``org.freedesktop.DBus.Properties`` Get/GetAll/Set) it asks the device's
:class:`~bridge.sim.device.Faults` what to do:

- ``delay``: wait that many seconds before the producer answers (every call);
- DROP: send no reply at all (the caller's method call times out);
- ERROR: reply ``org.openconnectivity.Error.Code<NNN>`` with ``error_code`` as NNN
  (docs/protocol-notes.md, "Errors");
- MALFORMED: reply with a signature no member of these interfaces returns (``us``).

``/About``, introspection and ``org.freedesktop.DBus.Peer`` are never faulted, so a faulty
device is still found and described. It must not decide anything itself: every choice comes
from ``Faults.decide()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from dbus_fast import Message, MessageType

from bridge.alljoyn.producer import AllJoynProducer
from bridge.sim.device import FaultAction, SimDevice

ERROR_PREFIX = "org.openconnectivity.Error.Code"
MALFORMED_SIGNATURE = "us"
_UNFAULTED_INTERFACES = frozenset({"org.freedesktop.DBus.Introspectable",
                                   "org.freedesktop.DBus.Peer"})
_ABOUT_PATH = "/About"

Handler = Callable[[Message], "Message | bool | None"]


class FaultGate:
    """Applies ``device.faults`` to the calls a producer's bus connection receives."""

    def __init__(self, producer: AllJoynProducer, device: SimDevice, inner: Handler) -> None:
        self._producer = producer
        self._device = device
        self._inner = inner
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, msg: Message) -> Message | bool | None:
        faults = self._device.faults
        if not faults.active or not _faultable(msg):
            return self._inner(msg)
        action = faults.decide()
        if action is FaultAction.ANSWER and not faults.delay:
            return self._inner(msg)
        task = asyncio.create_task(self._answer(msg, action, faults.delay, faults.error_code))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _answer(self, msg: Message, action: FaultAction, delay: float,
                      code: int) -> None:
        if delay:
            await asyncio.sleep(delay)
        bus = self._producer.bus
        if action is FaultAction.DROP or bus is None or not bus.connected:
            return
        if action is FaultAction.ERROR:
            bus.send(Message.new_error(msg, f"{ERROR_PREFIX}{code}",
                                       f"injected fault: {self._device.name} answers {code}"))
        elif action is FaultAction.MALFORMED:
            bus.send(Message.new_method_return(msg, MALFORMED_SIGNATURE,
                                               [0, "injected fault: malformed reply"]))
        else:
            reply = self._inner(msg)
            if isinstance(reply, Message):
                bus.send(reply)


def _faultable(msg: Message) -> bool:
    return (msg.message_type is MessageType.METHOD_CALL and msg.path != _ABOUT_PATH
            and msg.interface not in _UNFAULTED_INTERFACES
            and not (msg.interface is None and msg.member == "Introspect"))


def install_faults(producer: AllJoynProducer, device: SimDevice) -> FaultGate:
    """Route the started ``producer``'s incoming calls through a :class:`FaultGate`."""
    bus = producer.bus
    if bus is None:
        raise RuntimeError("install_faults needs a started producer")
    # The producer registers its bound handler at start; the gate takes its place and calls it.
    inner: Handler = producer._on_message
    bus.remove_message_handler(inner)
    gate = FaultGate(producer, device, inner)
    bus.add_message_handler(gate)
    return gate
