"""Hypothesis strategies for what arrives from outside over D-Bus: About data, object
descriptions and variant values, all of them things a device can really put on the bus."""

from __future__ import annotations

from typing import Any

from dbus_fast import Variant
from hypothesis import strategies as st

from bridge.alljoyn.about import OPTIONAL_FIELDS, REQUIRED_FIELDS

# D-Bus strings are UTF-8 without NUL: anything else is refused by the bus before it arrives.
texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                max_size=24)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}(\.[A-Za-z_][A-Za-z0-9_]{0,8}){1,3}",
                      fullmatch=True)
paths = st.from_regex(r"/([A-Za-z0-9_]{1,6}(/[A-Za-z0-9_]{1,6}){0,2})?", fullmatch=True)
MODEL_INTERFACES = [
    "org.alljoyn.SmartSpaces.Operation.OnOffStatus",
    "org.alljoyn.SmartSpaces.Operation.OnControl",
    "org.alljoyn.SmartSpaces.Operation.OffControl",
    "org.alljoyn.SmartSpaces.Operation.Brightness",
    "org.alljoyn.SmartSpaces.Environment.CurrentTemperature",
    "org.alljoyn.SmartSpaces.Environment.TargetTemperature",
    "org.alljoyn.About", "oic.d.virtual", "org.freedesktop.DBus.Peer",
]
interfaces = st.one_of(st.sampled_from(MODEL_INTERFACES), names)


def _variant(sig: str, inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Variant]:
    return inner.map(lambda value: Variant(sig, value))


scalar_variants = st.one_of(
    _variant("s", texts), _variant("ay", st.binary(max_size=20)),
    _variant("as", st.lists(texts, max_size=3)), _variant("b", st.booleans()),
    _variant("q", st.integers(0, 2**16 - 1)), _variant("i", st.integers(-(2**31), 2**31 - 1)),
    _variant("t", st.integers(0, 2**64 - 1)),
    _variant("d", st.floats(allow_nan=True, allow_infinity=True)),
    _variant("o", paths), _variant("g", st.sampled_from(["", "s", "a{sv}", "(ii)"])),
)
variants = st.recursive(scalar_variants, lambda inner: st.one_of(
    _variant("a{sv}", st.dictionaries(texts, inner, max_size=3)),
    _variant("v", inner)), max_leaves=6)


def _right(sig: str) -> st.SearchStrategy[Variant]:
    if sig == "ay":
        return st.one_of(_variant("ay", st.binary(min_size=16, max_size=16)),
                         _variant("ay", st.binary(max_size=20)),
                         _variant("ay", st.binary(min_size=16, max_size=16)))
    if sig == "as":
        return _variant("as", st.lists(texts, max_size=3))
    return _variant("s", texts)


@st.composite
def about_data(draw: st.DrawFn) -> dict[str, Variant]:
    """An ``a{sv}`` About dictionary: mostly well-formed fields, some missing, some of the
    wrong type, plus random extra fields."""
    about: dict[str, Variant] = {}
    for name, sig in {**REQUIRED_FIELDS, **OPTIONAL_FIELDS,
                      "org.openconnectivity.piid": "s"}.items():
        choice = draw(st.integers(0, 39))
        if choice == 0:
            continue
        about[name] = draw(variants if choice == 1 else _right(sig))
    about.update(draw(st.dictionaries(texts, variants, max_size=3)))
    return about


object_descriptions = st.lists(st.tuples(paths, st.lists(interfaces, max_size=4)), max_size=4)
