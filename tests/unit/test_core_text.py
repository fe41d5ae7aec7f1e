"""The text rules of ``bridge.core.text``, the registry's check of command strings, and the
identity book that drops stored values no side could use (issue 15 point 2)."""

from __future__ import annotations

import json
import logging

import pytest

from bridge.core.errors import InvalidText, WrongType
from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import InvokeMethod, Registry, SetProperties
from bridge.core.text import MAX_TEXT_BYTES, check_texts, encodable, text_problem
from bridge.core.thing import (
    Capability,
    DeviceInfo,
    GenericMember,
    GenericProperty,
    GenericSpec,
    Side,
    Thing,
)


@pytest.mark.parametrize(("text", "nul", "words"), [
    ("\ud800", False, "lone surrogate U+D800 at position 0"),
    ("ok\udfff", True, "lone surrogate U+DFFF at position 2"),
    ("a\x00b", False, "NUL (U+0000) at position 1"),
    ("é" * (MAX_TEXT_BYTES // 2 + 1), False, f"more than the {MAX_TEXT_BYTES} allowed"),
])
def test_text_problems(text: str, nul: bool, words: str) -> None:
    problem = text_problem(text, nul=nul)
    assert problem is not None and words in problem


@pytest.mark.parametrize("text", ["", "Küche 💡", "a\x00b", "x" * MAX_TEXT_BYTES])
def test_good_text(text: str) -> None:
    assert text_problem(text, nul=True) is None


def test_check_texts_looks_everywhere() -> None:
    check_texts("p", {"a": [1, "b", {"c": None}]})
    for bad in (["ok", "\ud800"], {"\x00": 1}, {"k": {"k": "\x00"}}):
        with pytest.raises(InvalidText) as caught:
            check_texts("widget.Label", bad)
        assert caught.value.prop == "widget.Label" and caught.value.reason == "invalid_text"
        assert isinstance(caught.value, WrongType)
    check_texts("p", {"k": "a\x00"}, nul=True)


def test_encodable_replaces_only_lone_surrogates() -> None:
    assert encodable("a\ud800b\x00💡") == "a\ufffdb\x00💡"
    encodable("\udc80").encode()


WIDGET = GenericSpec(interface="org.example.Widget",
                     properties=(GenericProperty("Label", "s", "rw"),),
                     methods=(GenericMember("Say", in_args=(("text", "s"),)),))


def _registry(origin: Side) -> tuple[Registry, Thing]:
    registry = Registry(EventBus())
    book = IdentityBook()
    if origin is Side.ALLJOYN:
        thing_id, identity = book.for_alljoyn_device("dev-1", b"\x01" * 16)
    else:
        thing_id, identity = book.for_ocf_device("00000000-0000-4000-8000-000000000001",
                                                 "11111111-0000-4000-8000-000000000001", "")
    thing = Thing(thing_id, origin, identity, DeviceInfo(name="Widget"),
                  {"widget": Capability("widget", "/w", generic=WIDGET, state={"Label": ""})})
    return registry, registry.upsert(thing)


@pytest.mark.parametrize("bad", ["\ud800", "a\x00", "x" * (MAX_TEXT_BYTES + 1)])
def test_registry_refuses_strings_an_alljoyn_device_cannot_get(bad: str) -> None:
    registry, thing = _registry(Side.ALLJOYN)
    for command in (SetProperties("widget", {"Label": bad}),
                    InvokeMethod("widget", "Say", {"text": bad})):
        with pytest.raises(InvalidText) as caught:
            registry.check(thing.id, command, Side.MQTT)
        assert caught.value.prop.startswith("widget.")


def test_registry_lets_nul_through_to_an_ocf_device_but_never_a_surrogate() -> None:
    registry, thing = _registry(Side.OCF)
    registry.check(thing.id, SetProperties("widget", {"Label": "a\x00b"}), Side.MQTT)
    with pytest.raises(InvalidText):
        registry.check(thing.id, SetProperties("widget", {"Label": "\ud800"}), Side.MQTT)


def test_a_stored_book_with_unusable_values_loads_without_them(
        caplog: pytest.LogCaptureFixture) -> None:
    good = IdentityBook()
    ocf_id, ocf = good.for_ocf_device("00000000-0000-4000-8000-000000000001",
                                      "11111111-0000-4000-8000-000000000001", "")
    _, aj = good.for_alljoyn_device("dev-1", b"\x01" * 16)
    good.set_friendly_name(ocf_id, "lamp")
    document = good.to_json()
    # What a file written by an older gateway (or by hand) may hold, as JSON escapes.
    text = json.dumps(document).replace('"lamp"', '"\\ud800"')
    text = text.replace(f'"{aj.pi}"', '"pi\\u0000"')
    text = text.replace('"version": 1, "identities": {',
                        '"version": 1, "identities": {"ocf:\\udfff": {"app_id": "00"}, ', 1)
    with caplog.at_level(logging.WARNING, "ocfaj.identity"):
        book = IdentityBook.from_json(json.loads(text))
    assert book.dirty, "the cleaned book must be saved again"
    assert book.friendly_name(ocf_id, "Kitchen Lamp") == "kitchen_lamp"
    assert book.for_ocf_device(ocf.di, ocf.piid, "")[1].app_id == ocf.app_id
    # The dropped pi is derived again; everything else of the entry is kept.
    assert book.for_alljoyn_device("dev-1", b"\x01" * 16)[1] == aj
    saved = json.dumps(book.to_json(), ensure_ascii=False)
    saved.encode()
    assert "\x00" not in saved and "udfff" not in json.dumps(book.to_json())
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 3


def test_a_stored_app_id_that_is_not_16_bytes_is_derived_again() -> None:
    book = IdentityBook.from_json({"version": 1, "identities": {
        "ocf:11111111-0000-4000-8000-000000000001": {"app_id": "xyz", "device_id": "d"}}})
    _, ident = book.for_ocf_device("00000000-0000-4000-8000-000000000001",
                                   "11111111-0000-4000-8000-000000000001", "")
    assert len(ident.app_id) == 16 and ident.device_id == "d"


def test_generated_names_fit_the_rename_limit() -> None:
    book = IdentityBook()
    names = [book.friendly_name(f"t{n}", "Lamp " * 100_000) for n in range(12)]
    assert all(0 < len(name) <= 100 for name in names) and len(set(names)) == 12
    assert names[11].endswith("_12")


def test_the_registry_cuts_huge_device_texts(caplog: pytest.LogCaptureFixture) -> None:
    registry, thing = _registry(Side.ALLJOYN)
    thing.info = DeviceInfo(name="N" * (1 << 20), manufacturer="Acme")
    with caplog.at_level(logging.WARNING, "ocfaj.registry"):
        stored = registry.upsert(thing)
    assert len(stored.info.name) == 255 and stored.info.name.endswith("\u2026")
    assert stored.info.manufacturer == "Acme"
    cuts = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(cuts) == 1 and len(cuts[0].getMessage()) < 400
