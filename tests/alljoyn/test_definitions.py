"""Details of the published AllJoyn interface definitions on the virtual producers:
``EnergyUsage.ResetCumulativeEnergy()`` exists and answers FeatureNotAvailable (the OCF energy
resource has no reset), and motion lives in the project's own namespace, not in the reserved
``org.alljoyn.SmartSpaces`` one."""

from __future__ import annotations

from dbus_fast import MessageType
from dbus_fast.aio import MessageBus

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Capability, DeviceInfo, Side, Thing
from bridge.model.types import Catalogue
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import OriginDouble, SideFactory
from tests.alljoyn.producers_fixtures import dbus_call

ENERGY = "org.alljoyn.SmartSpaces.Operation.EnergyUsage"


async def export_meter(make_side: SideFactory, registry: Registry, book: IdentityBook,
                       catalogue: Catalogue) -> tuple[str, OriginDouble]:
    side = await make_side()
    origin = OriginDouble()
    registry.register_handler(Side.OCF, origin)
    thing_id, identity = book.for_ocf_device("7d4e2c1a-0b7e-4f38-9d2c-2a6c4d3b8e33", "", "")
    caps = {key: Capability(key, f"/{key}", model=catalogue.capability(key), state=state)
            for key, state in (("power_meter", {"power": 7.5, "energy": 12.25}),
                               ("motion", {"motion": True}))}
    thing = registry.upsert(Thing(id=thing_id, origin=Side.OCF, identity=identity,
                                  info=DeviceInfo(name="Meter", device_types=("oic.d.sensor",)),
                                  capabilities=caps))
    await await_until(lambda: side.producers.producer(thing.id) is not None)
    producer = side.producers.producer(thing.id)
    assert producer is not None
    return producer.unique_name, origin


async def test_reset_cumulative_energy_answers_feature_not_available(
        client: MessageBus, make_side: SideFactory, registry: Registry, book: IdentityBook,
        catalogue: Catalogue) -> None:
    name, origin = await export_meter(make_side, registry, book, catalogue)
    xml = (await dbus_call(client, name, "/sensor", "org.freedesktop.DBus.Introspectable",
                           "Introspect")).body[0]
    assert '<method name="ResetCumulativeEnergy">' in xml
    reply = await dbus_call(client, name, "/sensor", ENERGY, "ResetCumulativeEnergy")
    assert reply.message_type is MessageType.ERROR
    assert reply.error_name == "org.alljoyn.Error.FeatureNotAvailable"
    assert "oic.r.energy.consumption" in reply.body[0] and "read-only" in reply.body[0]
    assert origin.commands == []  # nothing reached the device
    reply = await dbus_call(client, name, "/sensor", "org.freedesktop.DBus.Properties", "Get",
                            "ss", [ENERGY, "CumulativeEnergy"])
    assert reply.body[0].value == 12.25


async def test_no_project_interface_in_the_reserved_namespace(
        client: MessageBus, make_side: SideFactory, registry: Registry, book: IdentityBook,
        catalogue: Catalogue) -> None:
    name, _ = await export_meter(make_side, registry, book, catalogue)
    reply = await dbus_call(client, name, "/About", "org.alljoyn.About", "GetObjectDescription")
    interfaces = {iface for _, ifaces in reply.body[0] for iface in ifaces}
    assert "org.ocfaj.Operation.MotionStatus" in interfaces
    reserved = {i for i in interfaces if i.startswith("org.alljoyn.SmartSpaces.")}
    assert reserved == {"org.alljoyn.SmartSpaces.Operation.CurrentPower", ENERGY}
    for model in catalogue.capabilities:
        for iface in model.alljoyn.interfaces:
            assert not (iface.project_defined and iface.name.startswith("org.alljoyn.")), (
                iface.name)


async def test_secure_only_ocf_device_gets_no_virtual_producer(
        make_side: SideFactory, registry: Registry, book: IdentityBook,
        catalogue: Catalogue) -> None:
    side = await make_side()
    registry.register_handler(Side.OCF, OriginDouble())

    def ocf_thing(di: str, name: str, cap: str, state: dict[str, bool],
                  not_bridgeable: str = "") -> Thing:
        thing_id, identity = book.for_ocf_device(di, "", "")
        return Thing(id=thing_id, origin=Side.OCF, identity=identity,
                     info=DeviceInfo(name=name),
                     capabilities={cap: Capability(cap, f"/{cap}",
                                                   model=catalogue.capability(cap),
                                                   state=state)},
                     not_bridgeable=not_bridgeable)

    secured = registry.upsert(ocf_thing("9a4e2c1a-0b7e-4f38-9d2c-2a6c4d3b8e44", "Secured Lock",
                                        "lock", {"locked": True},
                                        "secure-only endpoints (coaps)"))
    plain = registry.upsert(ocf_thing("0b5e2c1a-0b7e-4f38-9d2c-2a6c4d3b8e55", "Plain Lamp",
                                      "switch", {"on": False}))
    await await_until(lambda: side.producers.producer(plain.id) is not None)
    assert side.producers.producer(secured.id) is None
    assert side.producers.count == 1
