"""About in the languages a producer speaks, both ways.

Consuming: a producer that answers ``GetAboutData("")`` with LanguageNotSupported is read in
its Announce's DefaultLanguage; one that refuses every language is logged with its name, bus
name and the D-Bus error name. Producing: language tags compare case-insensitively and fall
back to less specific ones (RFC 5646, RFC 4647 lookup)."""

# No ``from __future__ import annotations``: dbus-fast reads the signatures from the
# annotations of the service methods at class creation.

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
from dbus_fast import DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusSignature, DBusStr
from dbus_fast.service import ServiceInterface, dbus_method

from bridge.alljoyn.languages import lookup, well_formed
from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Side
from bridge.model.types import Catalogue
from bridge.sim.alljoyn_peer import PeerBehaviour
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SideFactory, SimFactory
from tests.alljoyn.producers_fixtures import dbus_call, export_lamp

Dict = Annotated[dict[str, Any], DBusSignature("a{sv}")]
Objects = Annotated[list[Any], DBusSignature("a(oas)")]
NOT_SUPPORTED = "org.alljoyn.Error.LanguageNotSupported"


async def test_producer_wanting_its_default_language_is_read_in_it(
        make_side: SideFactory, make_sim: SimFactory, registry: Registry) -> None:
    await make_side()
    sim = await make_sim("light", "Lampe", behaviour=PeerBehaviour(
        languages=("de", "fr"), refuse_empty_language=True))
    await await_until(lambda: any(t.origin is Side.ALLJOYN for t in registry),
                      message="the device that wants a language named")
    thing = next(t for t in registry if t.origin is Side.ALLJOYN)
    assert thing.info.name == "Lampe"
    assert thing.info.extra["DefaultLanguage"] == "de"
    assert thing.info.extra["SupportedLanguages"] == ["de", "fr"]
    assert set(thing.capabilities) == {"switch", "brightness"}
    assert sim.producer is not None


class Refuser(ServiceInterface):
    """An About that answers every language with LanguageNotSupported."""

    def __init__(self) -> None:
        super().__init__("org.alljoyn.About")
        self.asked: list[str] = []

    @dbus_method()
    def GetAboutData(self, language: DBusStr) -> Dict:  # D-Bus member names are CamelCase
        self.asked.append(language)
        raise DBusError(NOT_SUPPORTED, f"no {language!r} here")

    @dbus_method()
    def GetObjectDescription(self) -> Objects:
        return [["/About", ["org.alljoyn.About"]]]


@pytest.fixture
async def refuser_bus(dbus_daemon: DBusDaemon) -> AsyncIterator[MessageBus]:
    bus = await MessageBus(bus_address=dbus_daemon.address).connect()
    yield bus
    bus.disconnect()


async def test_producer_refusing_every_language_is_logged_with_its_names(
        make_side: SideFactory, refuser_bus: MessageBus, registry: Registry,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ocfaj.alljoyn")
    await make_side()
    about = Refuser()
    refuser_bus.export("/About", about)
    refuser_bus.send(Message.new_signal(
        "/About", "org.alljoyn.About", "Announce", "qqa(oas)a{sv}",
        [1, 0, [["/About", ["org.alljoyn.About"]]],
         {"AppName": Variant("s", "Stubborn"), "DefaultLanguage": Variant("s", "nl"),
          "AppId": Variant("ay", bytes(16))}]))
    await await_until(lambda: "Stubborn" in caplog.text, message="the warning")
    line = next(r.getMessage() for r in caplog.records if "Stubborn" in r.getMessage())
    assert refuser_bus.unique_name in line
    assert NOT_SUPPORTED in line
    assert "languages tried: '', 'nl'" in line
    assert about.asked == ["", "nl"]
    assert not any(t.origin is Side.ALLJOYN for t in registry)


@pytest.mark.parametrize(("asked", "served"), [
    ("", "en"), ("en", "en"), ("EN", "en"), ("en-US", "en"), ("EN-us", "en"),
    ("en-Latn-GB-x-private", "en"),
])
async def test_virtual_producer_serves_tags_case_insensitively_with_fallback(
        client: MessageBus, make_side: SideFactory, registry: Registry, book: IdentityBook,
        catalogue: Catalogue, asked: str, served: str) -> None:
    ex = await export_lamp(make_side, registry, book, catalogue)
    reply = await dbus_call(client, ex.name, "/About", "org.alljoyn.About", "GetAboutData",
                            "s", [asked])
    assert reply.message_type is MessageType.METHOD_RETURN, reply.body
    assert reply.body[0]["DefaultLanguage"].value == served


@pytest.mark.parametrize("asked", ["de", "fr-FR", "e n", "-en", "english-language"])
async def test_virtual_producer_refuses_other_languages(
        client: MessageBus, make_side: SideFactory, registry: Registry, book: IdentityBook,
        catalogue: Catalogue, asked: str) -> None:
    ex = await export_lamp(make_side, registry, book, catalogue)
    reply = await dbus_call(client, ex.name, "/About", "org.alljoyn.About", "GetAboutData",
                            "s", [asked])
    assert reply.message_type is MessageType.ERROR
    assert reply.error_name == NOT_SUPPORTED
    assert "supported: en" in reply.body[0]


def test_lookup_follows_rfc_4647() -> None:
    offered = ["de", "zh-Hant", "en-GB"]
    assert lookup("ZH-hant-TW", offered, "de") == "zh-Hant"
    assert lookup("zh", offered, "de") is None
    assert lookup("en-gb", offered, "de") == "en-GB"
    assert lookup("de-CH-x-a", offered, "de") == "de"
    assert lookup("", offered, "de") == "de"
    assert well_formed("de-CH-1996") and not well_formed("de_CH") and not well_formed("")


async def test_scan_finds_a_producer_refusing_the_default_language(
        make_side: SideFactory, make_sim: SimFactory, registry: Registry) -> None:
    # Started before the gateway: its Announce is gone, only the scan can find it.
    await make_sim("light", "Early Lamp", behaviour=PeerBehaviour(refuse_empty_language=True))
    await make_side()  # returns once the start-up scan is done
    found = [t for t in registry if t.origin is Side.ALLJOYN]
    assert [t.info.name for t in found] == ["Early Lamp"]
    assert set(found[0].capabilities) == {"switch", "brightness"}


async def test_scan_tries_the_configured_languages(
        make_side: SideFactory, make_sim: SimFactory, registry: Registry,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ocfaj.alljoyn")
    sim = await make_sim("light", "Frühe Lampe", behaviour=PeerBehaviour(
        languages=("de", "fr"), refuse_empty_language=True))
    assert sim.producer is not None
    unique = sim.producer.unique_name
    await make_side()  # "" and "en": refused both
    assert not any(t.origin is Side.ALLJOYN for t in registry)
    assert any(unique in r.getMessage() and "'en'" in r.getMessage()
               and "next Announce" in r.getMessage() for r in caplog.records), caplog.text
    await make_side(scan_languages=("it", "fr"))
    found = [t for t in registry if t.origin is Side.ALLJOYN]
    assert [t.info.name for t in found] == ["Frühe Lampe"]
