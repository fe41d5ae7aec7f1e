"""``/oic/d`` and ``/oic/p``: parsing a device's answers, and building a virtual device's.

Layer: ``bridge.ocf``, pure: no socket, no asyncio. Field names follow docs/protocol-notes.md,
"About and /oic/d, /oic/p". Localised strings (``ld``, ``dmn``) are read in both
the plain and the OCF ``[{"language", "value"}]`` spelling and written in the OCF one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.core.thing import DeviceInfo, Thing
from bridge.model.types import Value

#: What this gateway's virtual devices declare: the OCF version and data model versions.
ICV = "ocf.2.0.5"
DMV = "ocf.res.1.3.0,ocf.sh.1.3.0"
VIRTUAL = "oic.d.virtual"
BRIDGE = "oic.d.bridge"
_DEVICE_CORE = {"rt", "if", "n", "di", "piid", "icv", "dmv", "id"}
_PLATFORM_CORE = {"rt", "if", "pi", "mnmn", "mnmo", "mndt", "mnhw", "mnfv", "mnsl", "vid", "id",
                  "n"}


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # localised: [{"language": "en", "value": "..."}]
        for item in value:
            if isinstance(item, dict) and isinstance(item.get("value"), str):
                return str(item["value"])
    return ""


def _localised(text: str) -> list[dict[str, str]]:
    return [{"language": "en", "value": text}]


@dataclass(frozen=True)
class DeviceFacts:
    """What ``/oic/d`` says about a device."""

    di: str
    piid: str
    name: str
    device_types: tuple[str, ...]
    extra: dict[str, Value] = field(default_factory=dict)

    @property
    def virtual(self) -> bool:
        return VIRTUAL in self.device_types


def parse_device(value: Any) -> DeviceFacts:
    """Facts of a decoded ``/oic/d`` payload; raises ValueError when it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("di"), str):
        raise ValueError("/oic/d is not a map with a 'di' string")
    rts = value.get("rt")
    types = tuple(t for t in (rts.split() if isinstance(rts, str) else rts or [])
                  if isinstance(t, str) and t != "oic.wk.d")
    piid = value.get("piid")
    extra = {k: v for k, v in value.items() if k not in _DEVICE_CORE}
    return DeviceFacts(di=value["di"], piid=piid if isinstance(piid, str) else "",
                       name=_text(value.get("n")), device_types=types, extra=extra)


def device_info(device: DeviceFacts, platform: Any) -> DeviceInfo:
    """The gateway's :class:`DeviceInfo` from ``/oic/d`` facts and a decoded ``/oic/p``."""
    plat = platform if isinstance(platform, dict) else {}
    extra = dict(device.extra)
    extra.update({f"p.{k}": v for k, v in plat.items() if k not in _PLATFORM_CORE})
    return DeviceInfo(
        name=device.name or f"OCF device {device.di[:8]}",
        manufacturer=_text(plat.get("mnmn")) or _text(device.extra.get("dmn")),
        model=_text(plat.get("mnmo")) or _text(device.extra.get("dmno")),
        sw_version=_text(device.extra.get("sv")) or _text(plat.get("mnfv")),
        hw_version=_text(plat.get("mnhw")),
        description=_text(device.extra.get("ld")),
        date_of_manufacture=_text(plat.get("mndt")),
        support_url=_text(plat.get("mnsl")),
        device_types=device.device_types,
        extra={k: v for k, v in extra.items() if k not in ("dmn", "dmno", "sv", "ld")},
    )


def platform_id(platform: Any) -> str:
    if isinstance(platform, dict) and isinstance(platform.get("pi"), str):
        return str(platform["pi"])
    return ""


def virtual_device_payload(thing: Thing, device_type: str) -> dict[str, Value]:
    """``/oic/d`` of the virtual device of ``thing`` (properties, without rt/if)."""
    info = thing.info
    payload: dict[str, Value] = {"n": info.name, "di": thing.identity.di,
                                 "piid": thing.identity.piid, "icv": ICV, "dmv": DMV}
    if info.description:
        payload["ld"] = _localised(info.description)
    if info.sw_version:
        payload["sv"] = info.sw_version
    if info.manufacturer:
        payload["dmn"] = _localised(info.manufacturer)
    if info.model:
        payload["dmno"] = info.model
    return payload


def virtual_device_types(thing: Thing) -> tuple[str, ...]:
    return ("oic.wk.d", thing.device_type, VIRTUAL)


def platform_payload(pi: str, info: DeviceInfo) -> dict[str, Value]:
    """``/oic/p`` for ``info``; ``mnmn`` is cut to the 16 characters OCF allows."""
    payload: dict[str, Value] = {"pi": pi, "mnmn": (info.manufacturer or "unknown")[:16]}
    for key, value in (("mnmo", info.model), ("mndt", info.date_of_manufacture),
                       ("mnhw", info.hw_version), ("mnfv", info.sw_version),
                       ("mnsl", info.support_url)):
        if value:
            payload[key] = value
    for key, value in info.extra.items():
        if isinstance(value, str | int | float | bool) and not key.startswith("x."):
            payload[f"x.{key}"] = value
    return payload
