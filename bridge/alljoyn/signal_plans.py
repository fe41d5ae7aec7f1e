"""``PropertiesChanged`` of a producer's capability, described once, filled per change.

Layer: ``bridge.alljoyn`` (dbus-fast adapter; used by ``bridge.alljoyn.producer``). A stream of
notifications from a device makes one ``PropertiesChanged`` per value, and every one of them
used to look up the object and interfaces of the capability, each property's signature by
name, parse the signal's and each value's signature from text and validate the message's path,
interface and member again, although none of that changes between two values. A
:class:`ChangePlan` holds what does not change for one interface of one capability (its object
path, the parsed signatures, a message header checked once when the plan is made) and builds
each signal with dbus-fast's public ``Message(..., validate=False)`` (where the installed
dbus-fast has the argument, as 5.2 does; without it the message is validated as before). The
values still go through the interface view (``InterfaceView.changes``, conversion and
clamping), and each ``Variant`` still checks its value against its signature.

The bytes on the wire are those of ``Message.new_signal`` with the same arguments
(``tests/alljoyn/test_signal_plans.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbus_fast import Message, MessageType, SignatureTree, Variant

from bridge.alljoyn.views import InterfaceView
from bridge.core.thing import Capability
from bridge.model.types import Value

PROPERTIES = "org.freedesktop.DBus.Properties"
PROPERTIES_CHANGED = "PropertiesChanged"
_SIGNATURE = SignatureTree("sa{sv}as")
#: Bytes of a signal besides its body, generously: the fixed header, the path, interface,
#: member, signature and sender fields with their padding (a unique name is short).
_HEADER = 160
#: What a scalar value adds to the body: its name's length and padding, the variant's
#: signature and the value itself, at most.
_ENTRY = 24


def _takes_validate() -> bool:
    """Does this dbus-fast's ``Message`` take ``validate``? (Without it the message is
    validated as ``new_signal`` does: slower, the same bytes.)"""
    try:
        Message(path="/", interface=PROPERTIES, member=PROPERTIES_CHANGED,
                message_type=MessageType.SIGNAL, validate=False)
    except TypeError:
        return False
    return True


_TAKES_VALIDATE = _takes_validate()


class ChangePlan:
    """The ``PropertiesChanged`` of one interface view of a capability at ``path``."""

    __slots__ = ("_fixed", "_types", "interface", "path", "view")

    def __init__(self, path: str, interface: str, view: InterfaceView) -> None:
        # Checked once here with dbus-fast's own validation: raises as ``new_signal`` would.
        Message.new_signal(path, PROPERTIES, PROPERTIES_CHANGED, _SIGNATURE.signature,
                           [interface, {}, []])
        self.path = path
        self.interface = interface
        self.view = view
        self._types = {prop.name: SignatureTree(prop.signature)
                       for prop in view.decl.properties}
        self._fixed = _HEADER + len(path) + len(interface)

    def message(self, cap: Capability,
                values: Mapping[str, Value]) -> tuple[Message, int] | None:
        """The signal for changed state ``values`` of ``cap`` with an estimate of its size in
        bytes (at least its size when the values are scalars or text), or None when the
        interface has nothing to say about them."""
        changed, invalidated = self.view.changes(cap, values)
        if not changed and not invalidated:
            return None
        types = self._types
        size = self._fixed
        body: dict[str, Variant] = {}
        for name, value in changed.items():
            body[name] = Variant(types[name], value)
            size += _ENTRY + len(name) + _value_size(value)
        for name in invalidated:
            size += 8 + len(name)
        if _TAKES_VALIDATE:
            msg = Message(path=self.path, interface=PROPERTIES, member=PROPERTIES_CHANGED,
                          message_type=MessageType.SIGNAL, signature=_SIGNATURE,
                          body=[self.interface, body, invalidated], validate=False)
        else:
            msg = Message(path=self.path, interface=PROPERTIES, member=PROPERTIES_CHANGED,
                          message_type=MessageType.SIGNAL, signature=_SIGNATURE,
                          body=[self.interface, body, invalidated])
        return msg, size


def _value_size(value: Any) -> int:
    kind = type(value)
    if kind is str:
        return 4 * len(value)  # UTF-8 takes at most four bytes a character
    if kind is float or kind is int or kind is bool:
        return 8
    return len(str(value))  # containers: about their text's length, as the pacer counted
