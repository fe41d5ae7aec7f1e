"""AllJoyn About data: validation, About -> DeviceInfo, and About of a virtual producer.

Layer: ``bridge.alljoyn``, pure (no bus I/O, no dbus-fast import). Values here are already
unwrapped from their variants (``bridge.alljoyn.wire.from_dbus``). The field rules are
docs/protocol-notes.md, "AllJoyn" and "About and /oic/d, /oic/p".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.core.thing import DeviceInfo, Thing

ABOUT_PATH = "/About"
ABOUT_INTERFACE = "org.alljoyn.About"
ABOUT_VERSION = 1
#: the empty interface that marks a device a bridge created (never bridged back).
VIRTUAL_INTERFACE = "oic.d.virtual"
PIID_FIELD = "org.openconnectivity.piid"
DEFAULT_LANGUAGE = "en"
AJ_SOFTWARE_VERSION = "16.10.00"

#: required About fields and their D-Bus signatures.
REQUIRED_FIELDS: dict[str, str] = {
    "AppId": "ay", "DefaultLanguage": "s", "DeviceId": "s", "AppName": "s",
    "Manufacturer": "s", "ModelNumber": "s", "SupportedLanguages": "as", "Description": "s",
    "SoftwareVersion": "s", "AJSoftwareVersion": "s",
}
OPTIONAL_FIELDS: dict[str, str] = {
    "DeviceName": "s", "DateOfManufacture": "s", "HardwareVersion": "s", "SupportUrl": "s",
}
#: the fields Announce carries.
ANNOUNCED_FIELDS = ("AppId", "DefaultLanguage", "DeviceName", "DeviceId", "AppName",
                    "Manufacturer", "ModelNumber")

#: interfaces that never cross (docs/protocol-notes.md, "Never bridged"); prefixes.
NEVER_BRIDGED = ("org.alljoyn.Bus", "org.freedesktop.DBus", "org.alljoyn.About",
                 "org.alljoyn.Daemon", "org.alljoyn.Debug", "org.alljoyn.Icon",
                 "org.allseen.Introspectable")

# About fields that DeviceInfo carries in its own attributes (or the identity does).
_MAPPED = {"AppId", "DeviceId", "AppName", "DeviceName", "Description", "SoftwareVersion",
           "Manufacturer", "ModelNumber", "DateOfManufacture", "HardwareVersion", "SupportUrl"}


def never_bridged(interface: str) -> bool:
    return interface == VIRTUAL_INTERFACE or interface.startswith(NEVER_BRIDGED)


def about_problems(about: Mapping[str, Any]) -> list[str]:
    """What is wrong with an About data set (empty when it is valid)."""
    problems = []
    for name, sig in REQUIRED_FIELDS.items():
        if name not in about:
            problems.append(f"required field {name} is missing")
        elif not _fits(sig, about[name]):
            problems.append(f"{name} must have D-Bus type {sig}, got {about[name]!r}")
    app_id = about.get("AppId")
    if isinstance(app_id, bytes) and len(app_id) != 16:
        problems.append(f"AppId must be 16 bytes, got {len(app_id)}")
    if isinstance(about.get("DeviceId"), str) and not about["DeviceId"]:
        problems.append("DeviceId is empty")
    for name, sig in OPTIONAL_FIELDS.items():
        if name in about and not _fits(sig, about[name]):
            problems.append(f"{name} must have D-Bus type {sig}, got {about[name]!r}")
    return problems


def _fits(sig: str, value: Any) -> bool:
    if sig == "ay":
        return isinstance(value, bytes)
    if sig == "as":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


def info_from_about(about: Mapping[str, Any], device_types: tuple[str, ...]) -> DeviceInfo:
    """DeviceInfo of a (valid) About data set; unmapped fields go to ``extra``."""
    return DeviceInfo(
        name=str(about.get("AppName") or about.get("DeviceName") or about["DeviceId"]),
        manufacturer=str(about.get("Manufacturer", "")),
        model=str(about.get("ModelNumber", "")),
        sw_version=str(about.get("SoftwareVersion", "")),
        hw_version=str(about.get("HardwareVersion", "")),
        description=str(about.get("Description", "")),
        date_of_manufacture=str(about.get("DateOfManufacture", "")),
        support_url=str(about.get("SupportUrl", "")),
        device_types=device_types,
        extra={k: v for k, v in about.items() if k not in _MAPPED},
    )


def about_of_thing(thing: Thing, gateway_name: str) -> dict[str, tuple[str, Any]]:
    """The About fields (name -> (signature, value)) of a virtual producer for ``thing``.

    Every required field is present even when the origin did not tell it, because AllJoyn
    consumers reject an About without them.
    """
    info = thing.info
    name = info.name or thing.id
    fields: dict[str, tuple[str, Any]] = {
        "AppId": ("ay", bytes(thing.identity.app_id)),
        "DefaultLanguage": ("s", DEFAULT_LANGUAGE),
        "DeviceId": ("s", thing.identity.device_id),
        "DeviceName": ("s", name),
        "AppName": ("s", name),
        "Manufacturer": ("s", info.manufacturer or "unknown"),
        "ModelNumber": ("s", info.model or "unknown"),
        "SupportedLanguages": ("as", [DEFAULT_LANGUAGE]),
        "Description": ("s", info.description or f"{name}, bridged by {gateway_name}"),
        "SoftwareVersion": ("s", info.sw_version or "unknown"),
        "AJSoftwareVersion": ("s", AJ_SOFTWARE_VERSION),
    }
    for key, value in (("DateOfManufacture", info.date_of_manufacture),
                       ("HardwareVersion", info.hw_version), ("SupportUrl", info.support_url)):
        if value:
            fields[key] = ("s", value)
    if thing.identity.piid:
        fields[PIID_FIELD] = ("s", thing.identity.piid)
    return fields
