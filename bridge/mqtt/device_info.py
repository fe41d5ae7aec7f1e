"""The ``device`` block of Home Assistant discovery: what a device says about itself.

Layer: ``bridge.mqtt`` (pure). From ``/oic/p`` and ``/oic/d`` (OCF) or the About data
(AllJoyn), as the origin adapter put them in :class:`bridge.core.thing.DeviceInfo`:

- ``manufacturer``: OCF ``mnmn`` (or ``dmn``), About ``Manufacturer``;
- ``model_id``: the model number, OCF ``mnmo`` (or ``dmno``), About ``ModelNumber``;
- ``model``: the device's description (OCF ``ld``, About ``Description``), else the model
  number;
- ``serial_number``: About's ``SerialNumber`` field, where a device adds it (OCF defines none);
- ``sw_version``: OCF ``sv`` (or ``mnfv``), About ``SoftwareVersion``;
- ``hw_version``: OCF ``mnhw``, About ``HardwareVersion``.

Fields the device does not state are left out rather than sent empty.
"""

from __future__ import annotations

from typing import Any

from bridge.core.thing import Thing

#: Home Assistant shows the model on one line: longer descriptions are cut.
_MODEL_LENGTH = 64


def device_details(thing: Thing) -> dict[str, Any]:
    info = thing.info
    serial = info.extra.get("SerialNumber")
    description = info.description.strip()
    if len(description) > _MODEL_LENGTH:
        description = description[:_MODEL_LENGTH - 1].rstrip() + "…"
    details = {
        "manufacturer": info.manufacturer,
        "model": description or info.model,
        "model_id": info.model,
        "serial_number": serial if isinstance(serial, str) else "",
        "sw_version": info.sw_version,
        "hw_version": info.hw_version,
    }
    return {key: value for key, value in details.items() if value}
