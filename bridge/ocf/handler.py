"""Commands for Things that live on OCF: POST and GET to the origin device.

Layer: ``bridge.ocf`` I/O (through the OCF client). The registry has already checked every
command against the model or generic signature; this only spells it the OCF way
(``to_side``) and reads the answer back (``from_side``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.core.errors import DeviceError, DeviceUnavailable
from bridge.core.registry import Command, CommandHandler, InvokeMethod
from bridge.core.thing import Capability, Thing
from bridge.core.values import to_side
from bridge.model.types import Value
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.devices import KnownDevice, OcfDevices, state_of


class OcfCommandHandler(CommandHandler):
    def __init__(self, devices: OcfDevices, client: OcfClient) -> None:
        self._devices = devices
        self._client = client

    def _target(self, thing: Thing, key: str) -> tuple[KnownDevice, Capability, str]:
        device = self._devices.device_of(thing.id)
        cap = thing.capabilities.get(key)
        if device is None or device.endpoint is None or cap is None:
            raise DeviceUnavailable(f"{thing.info.name} has no reachable OCF endpoint",
                                    thing=thing.id, capability=key)
        return device, cap, str(cap.origin_meta.get("href", ""))

    async def execute(self, thing: Thing, command: Command) -> Mapping[str, Value]:
        device, cap, href = self._target(thing, command.capability)
        if isinstance(command, InvokeMethod):
            raise DeviceError(405, f"OCF resource {href} has no methods")
        body = ocf_body(cap, command.values)
        assert device.endpoint is not None
        answer = await self._client.post(device.endpoint, href, body)
        if isinstance(answer, dict) and answer:
            # What was just written stays as written where the answer spells it the same.
            values = state_of(cap, answer, {**cap.state, **command.values})
            if values:
                return values
        return dict(command.values)

    async def refresh(self, thing: Thing, capability: str) -> Mapping[str, Value]:
        device, cap, href = self._target(thing, capability)
        assert device.endpoint is not None
        answer = await self._client.get(device.endpoint, href)
        return state_of(cap, answer, cap.state) if isinstance(answer, dict) else {}


def ocf_body(cap: Capability, values: Mapping[str, Value]) -> dict[str, Any]:
    """A POST body in the resource's own property names and units."""
    if cap.model is None:
        return dict(values)
    body: dict[str, Any] = {}
    for canonical, value in values.items():
        binding = cap.model.ocf.property_for(canonical)
        spec = cap.model.property(canonical)
        if binding is None or spec is None:
            continue
        # Temperatures are written in the unit the device reported (origin_meta keeps it).
        side_props = {k: v for k, v in cap.origin_meta.items() if k == "units"}
        body[binding.name] = to_side(binding.value, value, integer=spec.type == "integer",
                                     side_props=side_props or dict(cap.model.ocf.constants))
    return body
