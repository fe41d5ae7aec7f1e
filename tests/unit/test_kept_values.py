"""A value a user set is kept where the side spells it the same way (issue 14 point 18).

3000 K is 333 mired on OCF, and 333 mired reads as 3003 K: the state must stay 3000 K when
the device reports 333 back, and follow the device when it reports anything else.
"""

from __future__ import annotations

from bridge.core.values import from_side, from_side_keeping
from bridge.model import load_catalogue
from bridge.model.types import PropertySpec, Transform, ValueBinding
from bridge.ocf.mapping import model_representation, model_state

KELVIN = PropertySpec("colour_temperature", "integer", "rw", minimum=1000, maximum=20000)
MIRED = ValueBinding("colour_temperature", Transform.RECIPROCAL, scale=1_000_000)


def test_333_mired_alone_reads_as_3003_kelvin() -> None:
    assert from_side(MIRED, 333, KELVIN) == 3003


def test_the_set_value_is_kept_when_it_gives_the_same_mired() -> None:
    assert from_side_keeping(MIRED, 333, KELVIN, {"colour_temperature": 3000}) == 3000
    assert from_side_keeping(MIRED, 333, KELVIN, {"colour_temperature": 3001}) == 3001


def test_another_mired_value_is_converted_as_usual() -> None:
    assert from_side_keeping(MIRED, 370, KELVIN, {"colour_temperature": 3000}) == 2703
    assert from_side_keeping(MIRED, 333, KELVIN, {}) == 3003
    assert from_side_keeping(MIRED, 333, KELVIN, {"colour_temperature": "warm"}) == 3003


def test_an_ocf_light_keeps_3000_kelvin_through_its_representation() -> None:
    model = load_catalogue().capability("colour_temperature")
    assert model is not None
    props = model_representation(model, {"colour_temperature": 3000})
    assert props["ct"] == 333
    assert model_state(model, props) == {"colour_temperature": 3003}
    assert model_state(model, props, current={"colour_temperature": 3000}) == {
        "colour_temperature": 3000}
    # The device changed it (370 mired): the state follows the device.
    assert model_state(model, {"ct": 370}, current={"colour_temperature": 3000}) == {
        "colour_temperature": 2703}
