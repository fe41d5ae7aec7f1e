"""Issue 13 point 4, pure parts: a device's own range, step, precision and units win over the
model's defaults, and a resource that is both a sensor and an actuator is both capabilities.

No sockets: the mapping of links + representations, the registry's checks, the AllJoyn views,
the served representation and the simulated device's own checks.
"""

from __future__ import annotations

import logging

import pytest

from bridge.alljoyn.views import ModelInterfaceView, views_of
from bridge.core.errors import OutOfRange
from bridge.core.events import EventBus
from bridge.core.limits import PropertyLimits
from bridge.core.registry import Registry, SetProperties
from bridge.core.thing import DeviceInfo, Identity, Side, Thing
from bridge.model.types import Catalogue
from bridge.ocf.links import Endpoint, parse_res
from bridge.ocf.mapping import build_capabilities, model_representation, model_state
from bridge.ocf.model_resources import Role, combined_resource
from bridge.sim.device import SimDevice

SOURCE = Endpoint("coap", "fe80::7%eth0", 40000)
TARGET = "org.alljoyn.SmartSpaces.Environment.TargetTemperature"
CURRENT = "org.alljoyn.SmartSpaces.Environment.CurrentTemperature"


def temp_link(ifs: list[str]) -> dict[str, object]:
    """The reference stack's ``/temp``: one oic.r.temperature link."""
    return {"anchor": "ocf://d1", "href": "/temp", "rt": ["oic.r.temperature"], "if": ifs,
            "p": {"bm": 3}, "eps": [{"ep": "coap://[fe80::1]:49152"}]}


def dual_role(catalogue: Catalogue, props: dict[str, object]) -> Thing:
    links = parse_res([temp_link(["oic.if.baseline", "oic.if.a", "oic.if.s"])], SOURCE)
    caps = build_capabilities(links, catalogue, {"/temp": props})
    return Thing(id="ocf:t", origin=Side.OCF, identity=Identity(di="d1"),
                 info=DeviceInfo(name="Thermo"), capabilities=caps)


def view(thing: Thing, key: str, interface: str) -> ModelInterfaceView:
    found = next(v for v in views_of(thing.capabilities[key], False)
                 if v.decl.name == interface)
    assert isinstance(found, ModelInterfaceView)
    return found


def test_a_sensor_that_is_also_an_actuator_is_both_capabilities(catalogue: Catalogue) -> None:
    thing = dual_role(catalogue, {"temperature": 0.0, "units": "C", "range": [0, 100]})
    assert set(thing.capabilities) == {"temperature", "target_temperature"}
    measured, target = thing.capabilities["temperature"], thing.capabilities["target_temperature"]
    assert measured.origin_meta["href"] == target.origin_meta["href"] == "/temp"
    assert measured.state == {"temperature": 0.0}
    assert target.state == {"target_temperature": 0.0}
    # a link with only one of the two interfaces keeps playing one role
    only_s = build_capabilities(parse_res([temp_link(["oic.if.s", "oic.if.baseline"])], SOURCE),
                                catalogue, {"/temp": {"temperature": 20.0}})
    assert set(only_s) == {"temperature"}


def test_the_device_range_replaces_the_model_default(catalogue: Catalogue) -> None:
    thing = dual_role(catalogue, {"temperature": 0.0, "units": "C", "range": [0, 100],
                                  "step": 1, "precision": 0.1})
    target = thing.capabilities["target_temperature"]
    assert target.limits == {"target_temperature": PropertyLimits(0.0, 100.0, 1.0, 0.1)}
    spec = target.spec("target_temperature")
    assert spec is not None and (spec.minimum, spec.maximum, spec.step) == (0.0, 100.0, 1.0)

    aj = view(thing, "target_temperature", TARGET)
    assert aj.read(target, "MinValue") == 0.0  # the model says 5.0
    assert aj.read(target, "MaxValue") == 100.0  # the model says 35.0
    assert aj.read(target, "StepValue") == 1.0  # the model says 0.5
    assert aj.read(target, "TargetValue") == 0.0
    assert aj.write("TargetValue", 50.0) == SetProperties("target_temperature",
                                                          {"target_temperature": 50.0})
    with pytest.raises(OutOfRange, match=r"0\.\.100"):
        aj.write("TargetValue", 101.0)
    measured = thing.capabilities["temperature"]
    assert view(thing, "temperature", CURRENT).read(measured, "Precision") == 0.1


def test_the_registry_checks_commands_against_the_device_range(catalogue: Catalogue) -> None:
    registry = Registry(EventBus())
    registry.upsert(dual_role(catalogue, {"temperature": 0.0, "range": [0, 100]}))
    _, checked = registry.check("ocf:t", SetProperties("target_temperature",
                                                       {"target_temperature": 50}), Side.MQTT)
    assert checked == SetProperties("target_temperature", {"target_temperature": 50.0})
    with pytest.raises(OutOfRange):
        registry.check("ocf:t", SetProperties("target_temperature",
                                              {"target_temperature": 100.5}), Side.MQTT)
    # A device that says nothing keeps the model's 5..35 for what it says nothing about.
    registry.upsert(Thing(id="ocf:m", origin=Side.OCF, identity=Identity(di="d2"),
                          info=DeviceInfo(name="Plain"),
                          capabilities=build_capabilities(
                              parse_res([temp_link(["oic.if.a"])], SOURCE), catalogue,
                              {"/temp": {"temperature": 20.0, "step": 0.1}})))
    with pytest.raises(OutOfRange, match=r"5\.\.35"):
        registry.check("ocf:m", SetProperties("target_temperature",
                                              {"target_temperature": 50}), Side.MQTT)
    plain = registry.get("ocf:m")
    assert plain is not None
    spec = plain.capabilities["target_temperature"].spec("target_temperature")
    assert spec is not None and (spec.minimum, spec.maximum, spec.step) == (5.0, 35.0, 0.1)


def test_limits_in_fahrenheit_are_converted_like_the_value(catalogue: Catalogue) -> None:
    thing = dual_role(catalogue, {"temperature": 212.0, "units": "F", "range": [32, 212],
                                  "step": 1.8})
    target = thing.capabilities["target_temperature"]
    assert target.state == {"target_temperature": 100.0}
    assert target.limits == {"target_temperature": PropertyLimits(0.0, 100.0, 1.0)}
    # a notification without units is still read in the unit the device reported
    assert model_state(target.model, {"temperature": 50.0},  # type: ignore[arg-type]
                       target.origin_meta) == {"target_temperature": 10.0}


@pytest.mark.parametrize("bad", [{"range": [100, 0]}, {"range": [0]}, {"range": "0..100"},
                                 {"range": [0, True]}, {"step": 0}, {"step": -1},
                                 {"precision": -0.1}])
def test_malformed_declarations_are_logged_and_the_model_applies(
        catalogue: Catalogue, bad: dict[str, object], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ocfaj.ocf"):
        thing = dual_role(catalogue, {"temperature": 20.0, **bad})
    assert thing.capabilities["target_temperature"].limits == {}
    assert any("/temp" in r.getMessage() and "model" in r.getMessage() for r in caplog.records)


def test_a_served_resource_states_the_declared_limits(catalogue: Catalogue) -> None:
    target = catalogue.capability("target_temperature")
    measured = catalogue.capability("temperature")
    assert target is not None and measured is not None
    limits = {"target_temperature": PropertyLimits(0.0, 100.0, 1.0)}
    assert model_representation(target, {"target_temperature": 50.0}, limits) == {
        "units": "C", "range": [0.0, 100.0], "step": 1.0, "temperature": 50.0}
    assert model_representation(target, {"target_temperature": 20.0})["range"] == [5.0, 35.0]

    async def apply(values: dict[str, object]) -> None:
        raise AssertionError("not called in this test")

    resource = combined_resource("/temp", [Role(measured, lambda: {"temperature": 20.0}),
                                           Role(target, lambda: {"target_temperature": 20.0},
                                                apply, limits)])
    assert resource.ifs == ("oic.if.a", "oic.if.baseline", "oic.if.s")
    assert resource.rts == ("oic.r.temperature",) and resource.write is not None
    assert resource.read()["range"] == [0.0, 100.0]


def test_a_simulated_device_checks_its_own_limits_and_shares_a_combined_value(
        catalogue: Catalogue) -> None:
    device = SimDevice("Thermo", catalogue, ["temperature", "target_temperature"])
    with pytest.raises(OutOfRange):
        device.write("target_temperature", {"target_temperature": 50.0})
    device.declare("target_temperature", PropertyLimits(minimum=0.0, maximum=100.0))
    device.combine(("temperature", "target_temperature"))
    assert device.write("target_temperature", {"target_temperature": 50.0}) == {
        "target_temperature": 50.0}
    assert device.state["temperature"] == {"temperature": 50.0}
    device.set("temperature", {"temperature": 18.0})
    assert device.state["target_temperature"] == {"target_temperature": 18.0}
    with pytest.raises(ValueError, match="above max"):
        device.declare("temperature", PropertyLimits(minimum=2.0, maximum=1.0))
    with pytest.raises(ValueError, match="no single numeric value"):
        SimDevice("Lamp", catalogue, ["colour"]).declare("colour", PropertyLimits(minimum=0.0))
    with pytest.raises(ValueError, match="no capability"):
        device.declare("brightness", PropertyLimits(minimum=0.0))
