"""Simulated AllJoyn devices: a ``SimDevice`` served as a real D-Bus peer that announces itself.

Layer: ``bridge.sim`` (allowed to import ``bridge.alljoyn`` for the producer machinery, so the
simulator speaks exactly what the gateway exports). It holds no gateway state: tests and users
change the device from outside through ``SimDevice.set`` and see client writes through
``SimDevice.next_received``; :meth:`AllJoynSimServer.fail_with` makes the device answer errors,
and ``device.faults`` drops, delays, fails or garbles replies (:mod:`bridge.sim.alljoyn_faults`);
a :class:`~bridge.sim.alljoyn_peer.PeerBehaviour` makes it behave like producers written
elsewhere (About languages, a wrong Announce, properties that never signal).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from bridge.alljoyn.about import AJ_SOFTWARE_VERSION
from bridge.alljoyn.bus import BusChoice
from bridge.alljoyn.producer import AboutFields, AllJoynProducer
from bridge.core.errors import DeviceError
from bridge.core.registry import Command, InvokeMethod
from bridge.core.thing import Capability, DeviceInfo, Identity, Side, Thing
from bridge.model.types import Catalogue, Value
from bridge.sim.alljoyn_faults import install_faults
from bridge.sim.alljoyn_peer import PeerBehaviour
from bridge.sim.device import SimDevice

#: the simulator's device models: capability ids, served together.
SIM_MODELS: dict[str, tuple[str, ...]] = {
    "light": ("switch", "brightness"),
    "thermostat": ("temperature", "target_temperature"),
    "sensor": ("humidity", "battery"),
}
# Identities derive from the device name, so a simulator restarted with the same name is the
# same AllJoyn device (same DeviceId and AppId) to every consumer.
_NAMESPACE = uuid.UUID("5e3f0a1c-63b1-4c0e-9a55-0c6a7f1d2b90")


def sim_device(name: str, catalogue: Catalogue, model: str) -> SimDevice:
    """A device of a simulator model (``light``), of a device type model of the catalogue
    (``smartplug``) or with a comma-separated list of capabilities (``switch,colour``)."""
    caps = SIM_MODELS.get(model)
    if caps is not None:
        return SimDevice(name, catalogue, list(caps))
    if "," in model:
        return SimDevice(name, catalogue, [c.strip() for c in model.split(",") if c.strip()])
    if catalogue.device_type(model) is not None:
        return SimDevice.of_type(name, catalogue, model)
    raise ValueError(f"unknown simulator model {model!r} (known: {', '.join(SIM_MODELS)}, "
                     f"{', '.join(d.id for d in catalogue.device_types)}, or a comma-separated "
                     "list of capabilities)")


class AllJoynSimServer:
    """Serves one ``SimDevice`` on a bus; satisfies ``bridge.sim.control.SimServer``."""

    def __init__(self, device: SimDevice, choice: BusChoice, *, app_id: bytes | None = None,
                 device_id: str = "", extra_about: Mapping[str, tuple[str, Any]] | None = None,
                 signal_batch: int = 100,
                 behaviour: PeerBehaviour | None = None) -> None:
        self.device = device
        self.choice = choice
        self.app_id = app_id or uuid.uuid5(_NAMESPACE, f"app:{device.name}").bytes
        self.device_id = device_id or str(uuid.uuid5(_NAMESPACE, f"device:{device.name}"))
        self.extra_about = dict(extra_about or {})
        self.signal_batch = signal_batch
        self.behaviour = behaviour or PeerBehaviour()
        unknown = sorted(set(self.behaviour.silent + self.behaviour.mute)
                         - set(device.capabilities))
        if unknown:
            raise ValueError(f"{device.name} has no capability {', '.join(unknown)} to make "
                             "silent or mute")
        self.producer: AllJoynProducer | None = None
        self._failure: DeviceError | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def fail_with(self, code: int | None, message: str = "") -> None:
        """Answer every write with ``org.openconnectivity.Error.Code<code>`` (None: stop)."""
        self._failure = None if code is None else DeviceError(code, message)

    def about(self) -> AboutFields:
        dev = self.device
        languages = list(self.behaviour.languages)
        fields: AboutFields = {
            "AppId": ("ay", self.app_id), "DefaultLanguage": ("s", languages[0]),
            "DeviceId": ("s", self.device_id), "DeviceName": ("s", dev.name),
            "AppName": ("s", dev.name), "Manufacturer": ("s", dev.manufacturer),
            "ModelNumber": ("s", dev.model), "SupportedLanguages": ("as", languages),
            "Description": ("s", f"simulated {dev.device_type} {dev.name}"),
            "SoftwareVersion": ("s", "1.0"), "AJSoftwareVersion": ("s", AJ_SOFTWARE_VERSION),
        }
        fields.update(self.extra_about)
        return fields

    def _thing(self) -> Thing:
        dev = self.device
        caps = {cap_id: Capability(key=cap_id, instance=model.alljoyn.object_path_hint
                                   or f"/{cap_id}", model=model, state=dev.state[cap_id])
                for cap_id, model in dev.capabilities.items()}
        return Thing(id=f"sim:{dev.name}", origin=Side.ALLJOYN,
                     identity=Identity(app_id=self.app_id, device_id=self.device_id),
                     info=DeviceInfo(name=dev.name, manufacturer=dev.manufacturer,
                                     model=dev.model, device_types=(dev.device_type,)),
                     capabilities=caps)

    async def start(self) -> Mapping[str, Any]:
        if self.producer is None:
            self.producer = AllJoynProducer(self.choice, self._thing(), self._execute,
                                            self.about(), virtual=False, translate_names=False,
                                            signal_batch=self.signal_batch,
                                            quirks=self.behaviour.quirks())
            self._unsubscribe = self.device.on_change(self._changed)
            await self.producer.start()
            install_faults(self.producer, self.device)
        return {"bus": str(self.choice), "unique_name": self.producer.unique_name,
                "app_id": self.app_id.hex(), "device_id": self.device_id}

    def _changed(self, capability: str, values: Mapping[str, Value]) -> None:
        if self.producer is not None:
            self.producer.state_changed(capability, values)

    async def _execute(self, command: Command) -> Mapping[str, Value]:
        if self._failure is not None:
            raise self._failure
        if isinstance(command, InvokeMethod):
            raise DeviceError(501, f"{self.device.name} has no method {command.method}")
        self.device.write(command.capability, command.values)
        return dict(command.values)

    async def stop(self) -> None:
        producer, self.producer = self.producer, None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if producer is not None:
            await producer.stop()

    async def vanish(self) -> None:
        producer, self.producer = self.producer, None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if producer is not None:
            await producer.vanish()
