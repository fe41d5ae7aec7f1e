"""Invalid model files fail with a ModelError naming the file, the key path and the expectation.

Each case copies the shipped models to a temporary directory, breaks one file by a text edit and
loads the directory. A hypothesis test mutates valid model documents at random (wrong types,
missing keys, extra keys) and checks that the loader either accepts them or raises ModelError,
never anything else.
"""

from __future__ import annotations

import copy
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.model import CapabilityModel, DeviceTypeModel, ModelError, default_models_dir
from bridge.model import load_catalogue as load
from bridge.model.loader import capability_from_dict, device_type_from_dict

MODELS = default_models_dir()


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    old: str
    new: str
    path: str
    expected: str
    reported_file: str = ""


CASES = [
    Case("unknown top-level key", "capabilities/switch.toml", 'title = "On/off switch"',
         'title = "On/off switch"\ntitel = "typo"', "titel", "one of the keys"),
    Case("typo in a nested key", "capabilities/switch.toml", 'default_interface = "oic.if.a"',
         'default_interfce = "oic.if.a"', "ocf.default_interfce", "one of the keys"),
    Case("missing required key", "capabilities/switch.toml", "observable = true\n", "",
         "ocf.observable", "this required key"),
    Case("wrong type", "capabilities/switch.toml", "observable = true", 'observable = "yes"',
         "ocf.observable", "true or false"),
    Case("default interface not offered", "capabilities/switch.toml",
         'default_interface = "oic.if.a"', 'default_interface = "oic.if.s"',
         "ocf.default_interface", "one of interfaces oic.if.a, oic.if.baseline"),
    Case("two complete types", "capabilities/switch.toml", 'signature = "b"',
         'signature = "bb"', "alljoyn.interfaces[0].properties.IsOn.signature",
         "one complete type"),
    Case("unbalanced signature", "capabilities/switch.toml", 'signature = "b"',
         'signature = "a{sv"', "alljoyn.interfaces[0].properties.IsOn.signature",
         "one complete type"),
    Case("signature cannot carry the type", "capabilities/switch.toml", 'signature = "b"',
         'signature = "s"', "alljoyn.interfaces[0].properties.IsOn.signature",
         "carries the boolean property on"),
    Case("unknown canonical property", "capabilities/switch.toml",
         '[ocf.properties.value]\ncanonical = "on"', '[ocf.properties.value]\ncanonical = "onn"',
         "ocf.properties.value.canonical", "a canonical property of this capability (on)"),
    Case("method sets an invalid value", "capabilities/switch.toml",
         "sets = { on = false }", 'sets = { on = "off" }',
         "alljoyn.interfaces[2].methods.SwitchOff.sets.on", "a valid value of on"),
    Case("both canonical and const", "capabilities/switch.toml", 'canonical = "on"\n\n[[',
         'canonical = "on"\nconst = true\n\n[[', "alljoyn.interfaces[0].properties.IsOn",
         "exactly one of canonical, const or bound"),
    Case("scale not positive", "capabilities/brightness.toml", "scale = 0.01",
         "scale = -0.01", "alljoyn.interfaces[0].properties.Brightness.scale", "a scale > 0"),
    Case("scale without the scale transform", "capabilities/colour.toml",
         'canonical = "hue"\n\n[alljoyn.interfaces.properties.Saturation]',
         'canonical = "hue"\nscale = 2.0\n\n[alljoyn.interfaces.properties.Saturation]',
         "alljoyn.interfaces[0].properties.Hue.scale", "no scale unless transform"),
    Case("Version listed", "capabilities/brightness.toml", "[mqtt]",
         '[alljoyn.interfaces.properties.Version]\nsignature = "q"\naccess = "read"\n'
         'emits_changed = "const"\nconst = 1\n\n[mqtt]',
         "alljoyn.interfaces[0].properties.Version", "no Version property"),
    Case("map value not a canonical value", "capabilities/lock.toml",
         "Unlocked = false }", 'Unlocked = "no" }', "ocf.properties.lockState.map.Unlocked",
         "a valid value of locked (true or false)"),
    Case("map key does not fit the signature", "capabilities/contact.toml",
         '"true" = false', '"yes" = false', "alljoyn.interfaces[0].properties.IsClosed.map.yes",
         "a side value that fits signature 'b'"),
    Case("enum without values", "capabilities/switch.toml", "[ocf]",
         '[properties.mode]\ntype = "enum"\naccess = "r"\n\n[ocf]', "properties.mode.values",
         "the allowed values of an enum property"),
    Case("temperature_units on AllJoyn", "capabilities/temperature.toml",
         'canonical = "temperature"\n\n# Every',
         'canonical = "temperature"\ntransform = "temperature_units"\n\n# Every',
         "alljoyn.interfaces[0].properties.CurrentValue.transform",
         "only OCF carries a units property"),
    Case("readwrite for a read-only property", "capabilities/temperature.toml",
         'access = "read"\nemits_changed = "true"\ncanonical = "temperature"',
         'access = "readwrite"\nemits_changed = "true"\ncanonical = "temperature"',
         "alljoyn.interfaces[0].properties.CurrentValue.access", "read (canonical"),
    Case("bad emits_changed", "capabilities/motion.toml", 'emits_changed = "true"',
         'emits_changed = "yes"', "alljoyn.interfaces[0].properties.MotionDetected."
         "emits_changed", "one of true, false, invalidates, const"),
    Case("id differs from the file name", "capabilities/humidity.toml", 'id = "humidity"',
         'id = "humidity2"', "id", "the file name without .toml ('humidity')"),
    Case("device type names an unknown capability", "devices/light.toml",
         '"brightness", "colour"', '"dimmer", "colour"', "optional[0]",
         "the id of a capability in capabilities/"),
    Case("resource type shared with the same default interface",
         "capabilities/target_temperature.toml",
         'interfaces = ["oic.if.a", "oic.if.baseline"]\ndefault_interface = "oic.if.a"',
         'interfaces = ["oic.if.s", "oic.if.baseline"]\ndefault_interface = "oic.if.s"',
         "ocf.default_interface", "a default interface that no other capability",
         reported_file="capabilities/temperature.toml"),
    Case("invalid TOML", "capabilities/battery.toml", 'id = "battery"', "id = battery", "",
         "valid TOML"),
    Case("unknown MQTT component", "capabilities/motion.toml", 'component = "binary_sensor"',
         'component = "binary_sensors"', "mqtt.component", "one of alarm_control_panel"),
]


def _models_copy(tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(MODELS, target)
    return target


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_file_is_reported_precisely(tmp_path: Path, case: Case) -> None:
    models = _models_copy(tmp_path)
    path = models / case.file
    text = path.read_text(encoding="utf-8")
    assert text.count(case.old) == 1, f"case {case.name!r} no longer matches {case.file}"
    path.write_text(text.replace(case.old, case.new), encoding="utf-8")
    with pytest.raises(ModelError) as info:
        load(models)
    err = info.value
    assert isinstance(err, ValueError)
    file = case.reported_file or case.file
    assert (err.file, err.path) == (file, case.path)
    assert case.expected in err.expected
    message = str(err)
    assert message.startswith(f"{file}: {case.path}: " if case.path else f"{file}: ")
    assert case.expected in message


def test_duplicate_alljoyn_interface_across_capabilities(tmp_path: Path) -> None:
    models = _models_copy(tmp_path)
    text = (models / "capabilities/motion.toml").read_text(encoding="utf-8")
    text = text.replace('id = "motion"', 'id = "presence"').replace(
        "oic.r.sensor.motion", "oic.r.sensor.presence")
    (models / "capabilities/presence.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ModelError) as info:
        load(models)
    assert info.value.file == "capabilities/presence.toml"
    assert info.value.path == "alljoyn.interfaces[0].name"
    assert "already used by capabilities/motion.toml" in str(info.value)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="a directory of capabilities model files"):
        load(tmp_path)


def test_explicit_directory_loads(tmp_path: Path) -> None:
    cat = load(_models_copy(tmp_path))
    assert cat.capability("switch") is not None


# --- random mutations -------------------------------------------------------------------------

def _doc(name: str) -> dict[str, Any]:
    with (MODELS / name).open("rb") as handle:
        return tomllib.load(handle)


SEEDS = [_doc(f"capabilities/{n}.toml") for n in
         ("switch", "lock", "power_meter", "target_temperature", "contact", "colour_temperature")]
DEVICE_SEEDS = [_doc("devices/light.toml"), _doc("devices/sensor.toml")]

_leaf = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
         | st.text(max_size=8) | st.sampled_from(["on", "Locked", "d", "b", "oic.if.a", "min"]))
_values = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _containers(node: Any) -> list[Any]:
    found = [node] if isinstance(node, dict | list) else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        found += _containers(child)
    return found


@st.composite
def _mutated(draw: st.DrawFn, seeds: list[dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 3))):
        node = draw(st.sampled_from(_containers(doc)))
        keys: list[Any] = list(node) if isinstance(node, dict) else list(range(len(node)))
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "add" or not keys:
            if isinstance(node, dict):
                node[draw(st.text(min_size=1, max_size=8))] = draw(_values)
            else:
                node.append(draw(_values))
            continue
        key = draw(st.sampled_from(keys))
        if action == "delete":
            del node[key]
        else:
            node[key] = draw(_values)
    return doc


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(SEEDS))
def test_mutated_capability_loads_or_raises_model_error(doc: dict[str, Any]) -> None:
    try:
        cap = capability_from_dict(doc, "capabilities/mutant.toml")
    except ModelError as err:
        assert str(err).startswith("capabilities/mutant.toml")
    else:
        assert isinstance(cap, CapabilityModel)


@settings(max_examples=200)
@given(_mutated(DEVICE_SEEDS))
def test_mutated_device_type_loads_or_raises_model_error(doc: dict[str, Any]) -> None:
    try:
        dev = device_type_from_dict(doc, "devices/mutant.toml")
    except ModelError as err:
        assert str(err).startswith("devices/mutant.toml")
    else:
        assert isinstance(dev, DeviceTypeModel)
