"""The records there are several of per bridged device carry no instance dictionary, and a
virtual producer keeps no copy of its About fields (docs/benchmarks.md, "Memory per bridged
device: one copy of what devices repeat (issue 18, point 4)")."""

from __future__ import annotations

from bridge.alljoyn.about import about_of_thing
from bridge.alljoyn.bus import parse_bus
from bridge.alljoyn.producer import AllJoynProducer
from bridge.core.thing import Capability, DeviceInfo, Identity, Side, Thing
from bridge.ocf.devices import KnownDevice
from bridge.ocf.links import Endpoint, Link
from bridge.ocf.served import ServedDevice, ServedResource


def _thing() -> Thing:
    return Thing(id="ocf:1", origin=Side.OCF, identity=Identity(di="d1", app_id=b"\x01" * 16,
                                                                device_id="dev-1"),
                 info=DeviceInfo(name="Hall lamp", manufacturer="Acme"),
                 capabilities={"switch": Capability(key="switch", instance="/switch")})


def test_per_device_records_have_no_instance_dictionary() -> None:
    endpoint = Endpoint("coap", "10.0.0.7", 5683)
    resource = ServedResource("/switch", ("oic.r.switch.binary",), ("oic.if.a",), True,
                              lambda: {"value": True})
    thing = _thing()
    records = [thing, thing.identity, thing.info, thing.capabilities["switch"], endpoint,
               Link("d1", "/switch", ("oic.r.switch.binary",), ("oic.if.a",), 3, (endpoint,)),
               KnownDevice("d1"), resource,
               ServedDevice("d1", ("oic.wk.d",), {"n": "Hall lamp"}, {"pi": "p1"},
                            {"/switch": resource})]
    assert [type(r).__name__ for r in records if hasattr(r, "__dict__")] == []


def test_a_virtual_producer_makes_its_about_fields_from_its_thing() -> None:
    thing = _thing()

    async def execute(_command: object) -> dict[str, object]:
        return {}

    producer = AllJoynProducer(parse_bus("unix:path=/nonexistent"), thing, execute,
                               lambda t: about_of_thing(t, "gw"), virtual=True,
                               translate_names=True)
    assert producer.about == about_of_thing(thing, "gw")
    assert producer.about["DeviceName"] == ("s", "Hall lamp")
    # A new Thing (its facts changed) is what the next GetAboutData and Announce tell.
    renamed = _thing()
    renamed.info.name = "Porch lamp"
    producer.thing = renamed
    assert producer.about["DeviceName"] == ("s", "Porch lamp")
