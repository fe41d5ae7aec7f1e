"""Typed errors of the gateway.

Layer: ``bridge.core`` (pure). Every error carries what an operator or a client needs to act on
it; each protocol adapter maps these types to its own error form at the edge (CoAP response
codes, D-Bus error names, MQTT response payloads). Nothing here knows any protocol library.
"""

from __future__ import annotations

from typing import Any


class BridgeError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(BridgeError):
    """A configuration file, environment override or CLI flag is wrong.

    ``key`` is the dotted key (``mqtt.port``) and ``problem`` says what was expected.
    """

    def __init__(self, key: str, problem: str, source: str = "") -> None:
        self.key = key
        self.problem = problem
        self.source = source
        parts = [part for part in (source, key) if part]
        super().__init__(": ".join([*parts, problem]))


class BusUnavailable(BridgeError):
    """A D-Bus bus cannot be reached: no session bus, no socket, nobody listening.

    ``bus`` names the bus as the user chose it (``the system bus``, an address); the message
    says what was wrong and what to do about it.
    """

    def __init__(self, bus: str, message: str) -> None:
        self.bus = bus
        self.message = message
        super().__init__(message)


class StoreUnavailable(BridgeError):
    """A state file (the MQTT outbox) cannot be opened, and not because it is corrupt:
    permissions, too many open files, an I/O error. Nothing was moved or changed; the caller
    reports ``cause`` and tries again later."""

    def __init__(self, path: str, cause: str) -> None:
        self.path = path
        self.cause = cause
        super().__init__(f"cannot open {path}: {cause} (the file is left as it is)")


class CommandError(BridgeError):
    """A command (write, method call) was refused before it reached the device.

    Subclasses say why. ``thing`` and ``capability`` name the target when known.
    """

    #: a short machine-readable reason, used in MQTT responses and logs.
    reason = "invalid"

    def __init__(self, message: str, *, thing: str = "", capability: str = "",
                 prop: str = "") -> None:
        self.message = message
        self.thing = thing
        self.capability = capability
        self.prop = prop
        super().__init__(message)


class UnknownThing(CommandError):
    reason = "unknown_device"


class UnknownCapability(CommandError):
    reason = "unknown_capability"


class UnknownProperty(CommandError):
    reason = "unknown_property"


class WrongType(CommandError):
    reason = "wrong_type"


class InvalidText(WrongType):
    """A string that a target protocol cannot carry: not UTF-8 encodable, a NUL where D-Bus
    would receive it, or too long (rules in :mod:`bridge.core.text`)."""

    reason = "invalid_text"


class InvalidName(CommandError):
    """A friendly name that cannot be given to a device (the rules of ``rename``)."""

    reason = "invalid_name"


class OutOfRange(CommandError):
    reason = "out_of_range"


class ReadOnly(CommandError):
    reason = "read_only"


class NotAllowed(CommandError):
    """The access policy forbids this command."""

    reason = "not_allowed"


class DeviceUnavailable(CommandError):
    """The origin device is currently gone."""

    reason = "unavailable"


class DeviceError(BridgeError):
    """The origin device answered a command with an error.

    ``code`` is a CoAP-style status number (404, 400, 500...) so each side can map it to its
    own form: CoAP responds with it, D-Bus uses ``org.openconnectivity.Error.Code<code>``.
    """

    def __init__(self, code: int, message: str, *, detail: Any = None) -> None:
        self.code = code
        self.message = message
        self.detail = detail
        super().__init__(f"{code}: {message}")


class DeviceTimeout(DeviceError):
    """The origin device did not answer in time (CoAP 5.04 Gateway Timeout)."""

    def __init__(self, message: str) -> None:
        super().__init__(504, message)


class SecurityUnavailable(BridgeError):
    """A secured (DTLS) feature was asked for but its optional library is missing or of an
    unsupported version; ``message`` says what to install."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class SecurityError(BridgeError):
    """A secured exchange failed: a DTLS handshake refused (wrong key, no identity hint, a
    peer that could not prove the expected key), or an ownership step a device rejected.
    ``peer`` names the device (address or uuid) for the operator's log line."""

    def __init__(self, peer: str, message: str) -> None:
        self.peer = peer
        self.message = message
        super().__init__(f"{peer}: {message}")
