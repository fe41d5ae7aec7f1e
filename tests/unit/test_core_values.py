"""Value checks and transforms of bridge.core.values (pure, no sockets)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.errors import OutOfRange, ReadOnly, UnknownProperty, WrongType
from bridge.core.values import (
    celsius_from,
    celsius_to,
    check_signature_value,
    check_value,
    check_write,
    from_side,
    to_side,
)
from bridge.model.types import CapabilityModel, PropertySpec, Transform, ValueBinding

PERCENT = PropertySpec("brightness", "integer", "rw", minimum=0, maximum=100, unit="%")
TEMP = PropertySpec("temperature", "number", "r", unit="C")
LOCK = PropertySpec("lock_state", "enum", "rw", values=("Locked", "Unlocked"))


def test_booleans_are_not_integers() -> None:
    with pytest.raises(WrongType, match="brightness must be an integer"):
        check_value(PERCENT, True)
    assert check_value(PropertySpec("on", "boolean", "rw"), True) is True
    with pytest.raises(WrongType):
        check_value(PropertySpec("on", "boolean", "rw"), 1)


def test_range_error_names_property_and_range() -> None:
    with pytest.raises(OutOfRange) as err:
        check_value(PERCENT, 101)
    assert err.value.prop == "brightness"
    assert "0..100 %" in str(err.value)
    assert check_value(PERCENT, 40.0) == 40
    with pytest.raises(WrongType):
        check_value(PERCENT, 40.5)


def test_numbers_reject_nan_and_strings() -> None:
    with pytest.raises(WrongType):
        check_value(TEMP, math.nan)
    with pytest.raises(WrongType):
        check_value(TEMP, "21")
    assert check_value(TEMP, 21) == 21.0


def test_enum() -> None:
    assert check_value(LOCK, "Locked") == "Locked"
    with pytest.raises(OutOfRange, match="one of 'Locked', 'Unlocked'"):
        check_value(LOCK, "Open")


def _model(*props: PropertySpec) -> CapabilityModel:
    from bridge.model import load_catalogue

    base = load_catalogue().capability("switch")
    assert base is not None
    return CapabilityModel(id="t", title="t", description="", properties=props, ocf=base.ocf,
                           alljoyn=base.alljoyn, mqtt=base.mqtt)


def test_check_write_refuses_unknown_and_read_only() -> None:
    model = _model(PERCENT, TEMP)
    assert check_write(model, {"brightness": 5}) == {"brightness": 5}
    with pytest.raises(UnknownProperty, match="no property 'nope'"):
        check_write(model, {"nope": 1})
    with pytest.raises(ReadOnly, match="read-only"):
        check_write(model, {"temperature": 3.0})
    with pytest.raises(UnknownProperty):
        check_write(model, {})


def test_scale_brightness_both_ways() -> None:
    binding = ValueBinding("brightness", Transform.SCALE, scale=0.01)
    assert to_side(binding, 50) == pytest.approx(0.5)
    assert from_side(binding, 0.5, PERCENT) == 50
    assert from_side(binding, 0.333, PERCENT) == 33


def test_temperature_units() -> None:
    binding = ValueBinding("temperature", Transform.TEMPERATURE_UNITS, units_property="units")
    assert to_side(binding, 100.0, side_props={"units": "F"}) == pytest.approx(212.0)
    assert from_side(binding, 212.0, TEMP, side_props={"units": "F"}) == pytest.approx(100.0)
    assert from_side(binding, 300.0, TEMP, side_props={"units": "K"}) == pytest.approx(26.85)
    assert from_side(binding, 20, TEMP, side_props={}) == 20.0


@given(st.floats(min_value=-100, max_value=1000), st.sampled_from(["C", "F", "K"]))
def test_units_round_trip(celsius: float, unit: str) -> None:
    assert celsius_from(unit, celsius_to(unit, celsius)) == pytest.approx(celsius, abs=1e-6)


def test_map_transform() -> None:
    spec = PropertySpec("locked", "boolean", "rw")
    binding = ValueBinding("locked", Transform.MAP, value_map=(("Locked", True),
                                                               ("Unlocked", False)))
    assert to_side(binding, True) == "Locked"
    assert from_side(binding, "Unlocked", spec) is False
    with pytest.raises(OutOfRange):
        from_side(binding, "Jammed", spec)


def test_signature_checks() -> None:
    assert check_signature_value("v", "y", 255) == 255
    with pytest.raises(OutOfRange, match=r"0\.\.255"):
        check_signature_value("v", "y", 256)
    with pytest.raises(WrongType):
        check_signature_value("v", "i", True)
    assert check_signature_value("v", "t", str(2**60)) == 2**60
    assert check_signature_value("v", "d", 1) == 1.0
    with pytest.raises(WrongType):
        check_signature_value("v", "ay", "text")
    with pytest.raises(WrongType):
        check_signature_value("v", "a{sv}", [])


def test_reciprocal_mired_kelvin() -> None:
    spec = PropertySpec("kelvin", "integer", "rw", minimum=1000, maximum=10000)
    binding = ValueBinding("kelvin", Transform.RECIPROCAL, scale=1_000_000)
    assert to_side(binding, 4000, integer=True) == 250
    assert from_side(binding, 250, spec) == 4000
    with pytest.raises(WrongType):
        from_side(binding, 0, spec)
