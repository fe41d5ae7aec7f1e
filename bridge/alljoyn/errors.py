"""The gateway's typed errors <-> D-Bus error names, at the AllJoyn edge.

Layer: ``bridge.alljoyn``. Pure. docs/protocol-notes.md, "Errors": an origin device's error with a
CoAP-style code travels as ``org.openconnectivity.Error.Code<NNN>`` with its message; any other
D-Bus error from a device becomes code 500 with "<name>: <message>". Refusals before a device is
reached use the standard D-Bus names where one fits, else ``org.ocfaj.Error.<Reason>``.
"""

from __future__ import annotations

import re

from bridge.core.errors import (
    CommandError,
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
    NotAllowed,
    OutOfRange,
    ReadOnly,
    UnknownCapability,
    UnknownProperty,
    UnknownThing,
    WrongType,
)

INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs"
UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
UNKNOWN_PROPERTY = "org.freedesktop.DBus.Error.UnknownProperty"
UNKNOWN_INTERFACE = "org.freedesktop.DBus.Error.UnknownInterface"
UNKNOWN_OBJECT = "org.freedesktop.DBus.Error.UnknownObject"
PROPERTY_READ_ONLY = "org.freedesktop.DBus.Error.PropertyReadOnly"
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
FAILED = "org.freedesktop.DBus.Error.Failed"
OUT_OF_RANGE = "org.ocfaj.Error.OutOfRange"
UNAVAILABLE = "org.ocfaj.Error.Unavailable"
LANGUAGE_NOT_SUPPORTED = "org.alljoyn.Error.LanguageNotSupported"
FEATURE_NOT_AVAILABLE = "org.alljoyn.Error.FeatureNotAvailable"
CODE_PREFIX = "org.openconnectivity.Error.Code"

_CODE = re.compile(r"^org\.openconnectivity\.Error\.Code(\d{3})$")

class FeatureNotAvailable(CommandError):
    """A method of an interface definition that the device behind it cannot carry out
    (the model marks it ``unavailable``); answered ``org.alljoyn.Error.FeatureNotAvailable``."""

    reason = "feature_not_available"


_BY_TYPE: tuple[tuple[type[CommandError], str], ...] = (
    (FeatureNotAvailable, FEATURE_NOT_AVAILABLE),
    (WrongType, INVALID_ARGS),
    (OutOfRange, OUT_OF_RANGE),
    (ReadOnly, PROPERTY_READ_ONLY),
    (UnknownProperty, UNKNOWN_PROPERTY),
    (UnknownCapability, UNKNOWN_INTERFACE),
    (UnknownThing, UNKNOWN_OBJECT),
    (NotAllowed, ACCESS_DENIED),
    (DeviceUnavailable, UNAVAILABLE),
)


def error_reply(err: Exception) -> tuple[str, str]:
    """(D-Bus error name, message) for an error raised while serving a call."""
    if isinstance(err, DeviceError):
        return f"{CODE_PREFIX}{err.code}", err.message
    if isinstance(err, CommandError):
        for cls, name in _BY_TYPE:
            if isinstance(err, cls):
                return name, err.message
        return INVALID_ARGS, err.message
    return FAILED, f"internal error: {type(err).__name__}"


def device_error(name: str, text: str) -> DeviceError:
    """The DeviceError for a D-Bus error a device answered with."""
    match = _CODE.match(name)
    if match:
        return DeviceError(int(match.group(1)), text)
    if name in ("org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout",
                "org.freedesktop.DBus.Error.TimedOut"):
        return DeviceTimeout(f"{name}: {text}")
    return DeviceError(500, f"{name}: {text}")
