"""A GET on a served resource with a ``refresh`` brings its state up to date first (issue 21
point 4: reads through to an origin that does not signal); notifications never do."""

from __future__ import annotations

from collections.abc import Mapping

from bridge.core.errors import DeviceTimeout
from bridge.core.events import EventBus
from bridge.core.identity import IdentityBook
from bridge.core.registry import Command, Registry
from bridge.core.thing import Side
from bridge.model.types import Catalogue, Value
from bridge.ocf.served import Request, ServedDevice, ServedResource, handle, read
from bridge.ocf.virtual_resources import build_layout
from tests.ocf.things import RecordingOrigin, alljoyn_lamp


class Origin:
    """What the resource reads, and a refresh that reads it again from "the device"."""

    def __init__(self) -> None:
        self.kept: dict[str, Value] = {"uptime": 0}
        self.device: dict[str, Value] = {"uptime": 0}
        self.refreshes = 0
        self.failure: Exception | None = None

    async def refresh(self) -> None:
        self.refreshes += 1
        if self.failure is not None:
            raise self.failure
        self.kept.update(self.device)


def served(origin: Origin) -> ServedDevice:
    resource = ServedResource("/uptime", ("x.example.uptime",), ("oic.if.r", "oic.if.baseline"),
                              True, lambda: origin.kept, refresh=origin.refresh)
    return ServedDevice("di", ("oic.wk.d",), {}, {}, {"/uptime": resource})


async def test_get_answers_with_what_the_refresh_read() -> None:
    origin = Origin()
    device = served(origin)
    origin.device["uptime"] = 8
    reply = await handle(device, Request("GET", "/uptime"))
    assert (reply.code, reply.body) == (205, {"uptime": 8})
    assert origin.refreshes == 1


async def test_notifications_are_rendered_from_the_kept_state() -> None:
    origin = Origin()
    device = served(origin)
    origin.device["uptime"] = 8
    assert read(device, Request("GET", "/uptime")).body == {"uptime": 0}
    assert origin.refreshes == 0


async def test_a_failing_refresh_answers_its_error() -> None:
    origin = Origin()
    origin.failure = DeviceTimeout("the lamp did not answer within 2 s")
    reply = await handle(served(origin), Request("GET", "/uptime"))
    assert reply.code == 504 and "did not answer" in reply.diagnostic


async def test_an_unavailable_device_is_not_read() -> None:
    origin = Origin()
    device = served(origin)
    device.available = False
    reply = await handle(device, Request("GET", "/uptime"))
    assert reply.code == 503
    assert origin.refreshes == 0


async def test_a_refused_request_is_not_read() -> None:
    origin = Origin()
    reply = await handle(served(origin), Request("GET", "/uptime", ("if=oic.if.a",)))
    assert reply.code == 403
    assert origin.refreshes == 0


async def test_virtual_device_resources_read_through_their_capability(
        catalogue: Catalogue, book: IdentityBook) -> None:
    thing = alljoyn_lamp(catalogue, book)
    asked: list[str] = []

    async def fresh(key: str) -> None:
        asked.append(key)

    async def command(cmd: Command) -> Mapping[str, Value]:
        return {}

    layout = build_layout(thing, lambda key: thing.capabilities[key].state, command, fresh)
    by_key = {href: key for key, hrefs in layout.hrefs.items() for href in hrefs}
    for href in sorted(layout.device.resources):
        reply = await handle(layout.device, Request("GET", href))
        assert reply.code == 205, (href, reply)
    # Every state resource asked for its capability once; method and signal resources,
    # which show the last call or signal, never did.
    state_hrefs = sorted(h for h in layout.device.resources if h not in layout.last_only)
    assert sorted(asked) == sorted(by_key[h] for h in state_hrefs)
    assert {"brightness", "switch", "temperature", "widget"} <= set(asked)
    assert len(layout.last_only) == 2  # Pulse and Alarm


async def test_an_origin_that_follows_every_change_is_not_read_through(
        catalogue: Catalogue, book: IdentityBook) -> None:
    registry = Registry(EventBus())
    registry.register_handler(Side.ALLJOYN, RecordingOrigin())
    thing = registry.upsert(alljoyn_lamp(catalogue, book))
    assert await registry.read_through(thing.id, "brightness") is False
    assert await registry.read_through("no such thing", "brightness") is False
