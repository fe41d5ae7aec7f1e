"""The shipped models: they load, the lookups find the right capability, the facts hold.

Also covers the D-Bus signature checker, map key spelling and the renderings (docs/models.md is
compared with the generated text so it never goes stale).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.model import (
    AllJoynPropertyBinding,
    Catalogue,
    Transform,
    default_models_dir,
    load_catalogue,
)
from bridge.model.binding import parse_side_value
from bridge.model.render import (
    REGENERATE,
    catalogue_table,
    catalogue_to_json,
    mapping_markdown,
)
from bridge.model.signature import single_complete_type_error, value_fits

REPO = Path(__file__).resolve().parents[2]
SS = "org.alljoyn.SmartSpaces."


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


def test_every_shipped_file_loads(cat: Catalogue) -> None:
    files = sorted(p.stem for p in (default_models_dir() / "capabilities").glob("*.toml"))
    assert [c.id for c in cat.capabilities] == files
    assert {"switch", "brightness", "colour", "colour_temperature", "temperature",
            "target_temperature", "humidity", "battery", "contact", "motion", "lock",
            "power_meter"} <= set(files)
    devices = sorted(p.stem for p in (default_models_dir() / "devices").glob("*.toml"))
    assert [d.id for d in cat.device_types] == devices
    for cap in cat.capabilities:
        assert cap.source_file == f"capabilities/{cap.id}.toml"


def test_default_dir_is_the_source_tree_and_catalogue_is_cached() -> None:
    assert default_models_dir() == REPO / "models"
    assert load_catalogue() is load_catalogue()
    explicit = load_catalogue(REPO / "models")
    assert explicit is not load_catalogue()
    assert explicit == load_catalogue()


@pytest.mark.parametrize(("interfaces", "expected"), [
    (["oic.if.s", "oic.if.baseline"], "temperature"),
    (["oic.if.baseline", "oic.if.a"], "target_temperature"),
])
def test_by_ocf_uses_interfaces_to_tell_temperatures_apart(
        cat: Catalogue, interfaces: list[str], expected: str) -> None:
    found = cat.by_ocf(["oic.r.temperature"], interfaces)
    assert found is not None and found.id == expected


def test_by_ocf_other_types(cat: Catalogue) -> None:
    switch = cat.by_ocf(["oic.r.switch.binary"], ["oic.if.a"])
    assert switch is not None and switch.id == "switch"
    lock = cat.by_ocf(("oic.r.lock.status",))
    assert lock is not None and lock.id == "lock"
    assert cat.by_ocf(["x.org.example.-widget"], ["oic.if.rw"]) is None


def test_alljoyn_lookups(cat: Catalogue) -> None:
    primary = cat.by_alljoyn_interface(SS + "Operation.OnOffStatus")
    assert primary is not None and primary.id == "switch"
    assert cat.by_alljoyn_interface(SS + "Operation.OnControl") is None
    owner = cat.owning_alljoyn_interface(SS + "Operation.OffControl")
    assert owner is not None and owner.id == "switch"
    energy = cat.owning_alljoyn_interface(SS + "Operation.EnergyUsage")
    assert energy is not None and energy.id == "power_meter"
    assert cat.owning_alljoyn_interface("org.example.Unknown") is None


def test_device_types(cat: Catalogue) -> None:
    for ocf_type, dev_id in [("oic.d.light", "light"), ("oic.d.switch", "switch"),
                             ("oic.d.thermostat", "thermostat"), ("oic.d.sensor", "sensor"),
                             ("oic.d.smartlock", "smartlock")]:
        dev = cat.device_type(ocf_type)
        assert dev is not None and dev.id == dev_id
    for dev in cat.device_types:
        for cap_id in dev.required + dev.optional:
            assert cat.capability(cap_id) is not None
    guess = cat.guess_device_type(["lock", "battery"])
    assert guess is not None and guess.id == "smartlock"
    thermostat = cat.guess_device_type(["temperature", "target_temperature", "humidity"])
    assert thermostat is not None and thermostat.id == "thermostat"
    fallback = cat.guess_device_type(["contact"])
    assert fallback is not None and fallback.id == "sensor"


def test_mqtt_lookup_and_entities(cat: Catalogue) -> None:
    assert {c.id for c in cat.by_mqtt_component("light")} == {
        "brightness", "colour", "colour_temperature"}
    meter = cat.capability("power_meter")
    assert meter is not None
    assert [(e.state_property, e.device_class, e.unit) for e in meter.mqtt.entities] == [
        ("power", "power", "W"), ("energy", "energy", "kWh")]
    contact = cat.capability("contact")
    assert contact is not None and contact.mqtt.device_class == "opening"


def _aj_prop(cat: Catalogue, cap_id: str, iface: str, name: str) -> AllJoynPropertyBinding:
    cap = cat.capability(cap_id)
    assert cap is not None
    binding = cap.alljoyn.interface(SS + iface)
    assert binding is not None
    return next(p for p in binding.properties if p.name == name)


def test_protocol_facts(cat: Catalogue) -> None:
    brightness = _aj_prop(cat, "brightness", "Operation.Brightness", "Brightness")
    assert (brightness.signature, brightness.access) == ("d", "readwrite")
    assert brightness.value is not None
    assert brightness.value.transform is Transform.SCALE and brightness.value.scale == 0.01
    colour = cat.capability("colour")
    assert colour is not None
    ocf_sat = colour.ocf.property_for("saturation")
    assert ocf_sat is not None and round(100 * ocf_sat.value.scale) == 32767
    hue = _aj_prop(cat, "colour", "Operation.Color", "Hue").value
    assert hue is not None and hue.transform is Transform.IDENTITY
    assert _aj_prop(cat, "humidity", "Environment.CurrentHumidity", "CurrentValue").signature \
        == "y"
    assert _aj_prop(cat, "battery", "Operation.BatteryStatus", "CurrentValue").signature == "y"
    assert _aj_prop(cat, "battery", "Operation.BatteryStatus", "IsCharging").signature == "b"
    target = cat.capability("target_temperature")
    assert target is not None
    bounds = {p.name: p.bound for p in target.alljoyn.primary.properties if p.bound}
    assert bounds == {"MinValue": ("target_temperature", "min"),
                      "MaxValue": ("target_temperature", "max"),
                      "StepValue": ("target_temperature", "step")}
    for cap_id in ("temperature", "target_temperature"):
        cap = cat.capability(cap_id)
        assert cap is not None
        ocf = cap.ocf.property_for(cap_id)
        assert ocf is not None and ocf.name == "temperature"
        assert ocf.value.transform is Transform.TEMPERATURE_UNITS
        assert ocf.value.units_property == "units"
    ct = cat.capability("colour_temperature")
    assert ct is not None and ct.ocf.properties[0].value.transform is Transform.RECIPROCAL


def test_no_model_lists_version_and_only_motion_is_project_defined(cat: Catalogue) -> None:
    project_defined = set()
    for cap in cat.capabilities:
        for iface in cap.alljoyn.interfaces:
            assert all(p.name != "Version" for p in iface.properties)
            if iface.project_defined:
                project_defined.add(iface.name)
    assert project_defined == {"org.ocfaj.Operation.MotionStatus"}


def test_map_side_values_are_typed(cat: Catalogue) -> None:
    contact = cat.capability("contact")
    lock = cat.capability("lock")
    assert contact is not None and lock is not None
    value = contact.alljoyn.primary.properties[0].value
    assert value is not None and value.value_map == ((True, False), (False, True))
    assert lock.ocf.properties[0].value.value_map == (("Locked", True), ("Unlocked", False))


@pytest.mark.parametrize(("key", "value"), [
    ("true", True), ("false", False), ("3", 3), ("0.5", 0.5), ('"3"', "3"),
    ("Locked", "Locked"), ("null", "null"), ("[1]", "[1]"),
])
def test_map_key_spelling(key: str, value: object) -> None:
    parsed = parse_side_value(key)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("sig", ["b", "d", "y", "v", "as", "a{sv}", "a(oas)", "(ii)", "aay",
                                 "a{s(iv)}", "((y))"])
def test_valid_signatures(sig: str) -> None:
    assert single_complete_type_error(sig) is None


@pytest.mark.parametrize("sig", ["", "bb", "a", "{sv}", "a{vs}", "()", "(i", "a{sss}", "z",
                                 "ii)", "a" * 33 + "y"])
def test_invalid_signatures(sig: str) -> None:
    assert single_complete_type_error(sig) is not None


def test_value_fits_ranges() -> None:
    assert value_fits("y", 255) and not value_fits("y", 256) and not value_fits("y", True)
    assert value_fits("d", 1) and value_fits("b", False) and not value_fits("s", 1)


def test_json_rendering_is_complete(cat: Catalogue) -> None:
    data = json.loads(json.dumps(catalogue_to_json(cat)))
    assert [c["id"] for c in data["capabilities"]] == [c.id for c in cat.capabilities]
    lock = next(c for c in data["capabilities"] if c["id"] == "lock")
    assert lock["ocf"]["properties"][0]["value"]["value_map"] == [["Locked", True],
                                                                  ["Unlocked", False]]
    assert lock["ocf"]["properties"][0]["value"]["transform"] == "map"
    assert lock["alljoyn"]["interfaces"][1]["methods"][0] == {
        "name": "Lock", "sets": [["locked", True]], "in_args": [], "unavailable": ""}
    assert {d["ocf_device_type"] for d in data["device_types"]} >= {"oic.d.light"}


def test_table_lists_every_capability_then_every_device_model(cat: Catalogue) -> None:
    capabilities, devices = catalogue_table(cat).split("\n\n")
    lines = capabilities.splitlines()
    assert len(lines) == 1 + len(cat.capabilities)
    assert len(devices.splitlines()) == 1 + len(cat.device_types)
    temp = next(line for line in lines if line.startswith("temperature "))
    assert "oic.r.temperature (oic.if.s)" in temp and "Environment.CurrentTemperature" in temp
    assert temp.rstrip().endswith("sensor")


def test_docs_models_md_is_up_to_date(cat: Catalogue) -> None:
    path = REPO / "docs" / "models.md"
    assert path.is_file(), f"docs/models.md is missing; run `{REGENERATE}`"
    assert path.read_text(encoding="utf-8") == mapping_markdown(cat), (
        f"docs/models.md is stale; run `{REGENERATE}`")


def test_markdown_mentions_project_defined_interfaces(cat: Catalogue) -> None:
    text = mapping_markdown(cat)
    assert "## Project-defined AllJoyn interfaces" in text
    assert "`org.ocfaj.Operation.MotionStatus` version 1" in text
    assert "`ct` = 1000000 / canonical" in text
