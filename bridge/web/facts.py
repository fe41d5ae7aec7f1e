"""What the web page asks of the gateway, and the page's error form.

Layer: ``bridge.web`` (pure). The daemon implements :class:`GatewayFacts`: the page shows the
same device descriptions as ``ocfaj devices`` because both call the same methods. Errors map
to HTTP statuses with a JSON body ``{"error": reason, "message": text}``, the page's own form
of the typed errors of :mod:`bridge.core.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from bridge.core.errors import (
    BridgeError,
    CommandError,
    ConfigError,
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
    NotAllowed,
    UnknownThing,
)


class GatewayFacts(Protocol):
    """Implemented by the daemon's gateway; called on the event loop, never blocking."""

    def describe_devices(self) -> list[dict[str, Any]]:
        """Every device, in the order ``ocfaj devices`` lists them."""

    def iter_devices(self) -> Iterator[dict[str, Any]]:
        """The rows of :meth:`describe_devices`, made one at a time as they are taken."""

    def describe_device(self, thing_id: str) -> dict[str, Any] | None:
        """One device's row (``None``: no such device)."""

    def describe_gateway(self) -> dict[str, Any]:
        """The gateway's own state: name, uptime, parts and their status."""

    def forget(self, thing_id: str) -> None:
        """Forget a gone device now; raises :class:`CommandError` when it is present."""

    def set_log_level(self, level: str) -> None:
        """Log the gateway's own messages from ``level`` on."""

    def rename(self, thing_id: str, new: str) -> dict[str, Any]:
        """Give a device a new friendly name (its MQTT topics); raises :class:`CommandError`
        (``invalid_name`` with the reason) when it cannot."""

    async def discover(self) -> dict[str, Any]:
        """Run a discovery round on the origin sides now; raises :class:`CommandError` when
        none runs."""

    def describe_policy(self) -> dict[str, Any]:
        """The access policy in force: ``default``, ``rules``, whether it is stored."""

    def set_policy(self, document: object) -> dict[str, Any]:
        """Put a new access policy in force and store it; raises :class:`ConfigError` when
        it does not pass the rules of the configuration file's ``[policy]``."""


def error_status(err: BridgeError) -> int:
    """The HTTP status of a refusal or a device error."""
    if isinstance(err, UnknownThing):
        return 404
    if isinstance(err, NotAllowed):
        return 403
    if isinstance(err, DeviceUnavailable):
        return 503
    if isinstance(err, CommandError | ConfigError):
        return 400
    if isinstance(err, DeviceTimeout):
        return 504
    if isinstance(err, DeviceError):
        return 502
    return 500


def error_body(err: BridgeError) -> dict[str, Any]:
    if isinstance(err, CommandError):
        return {"error": err.reason, "message": err.message}
    if isinstance(err, ConfigError):
        return {"error": "invalid_config", "message": f"{err.key}: {err.problem}"}
    if isinstance(err, DeviceError):
        return {"error": "device_error", "code": err.code, "message": err.message}
    return {"error": "error", "message": str(err)}
