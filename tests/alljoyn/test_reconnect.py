"""dbus-daemon restart: the side reconnects with backoff, re-finds AllJoyn devices and
re-exports its virtual producers, without a gateway restart."""

from __future__ import annotations

from dbus_fast.aio import MessageBus

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry
from bridge.core.thing import Side
from bridge.model.types import Catalogue
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SideFactory, SimFactory
from tests.alljoyn.producers_fixtures import dbus_call, export_lamp


async def test_bus_restart_rebuilds_everything(
        dbus_daemon: DBusDaemon, make_sim: SimFactory, make_side: SideFactory,
        registry: Registry, book: IdentityBook, catalogue: Catalogue) -> None:
    lamp_sim = await make_sim("light", "Lamp")
    ex = await export_lamp(make_side, registry, book, catalogue)
    native = next(t for t in registry if t.origin is Side.ALLJOYN)
    assert native.available

    dbus_daemon.stop()
    await await_until(lambda: not ex.side.connected and not native.available,
                      message="the side to notice the bus went away")
    assert ex.side.status()["virtual_producers"] == 0
    dbus_daemon.start()
    await await_until(lambda: ex.side.connected, timeout=20, message="the reconnect")
    await await_until(lambda: ex.side.producers.producer(ex.thing.id) is not None)
    assert ex.side.status()["reconnects"] == 1

    await lamp_sim.stop()  # its connection died with the old daemon: serve it again
    await lamp_sim.start()
    await await_until(lambda: native.available, message="the device to be found again")
    assert [t for t in registry if t.origin is Side.ALLJOYN] == [native]

    producer = ex.side.producers.producer(ex.thing.id)
    assert producer is not None
    client = await MessageBus(bus_address=dbus_daemon.address).connect()
    try:
        reply = await dbus_call(client, producer.unique_name, "/About", "org.alljoyn.About",
                                "GetAboutData", "s", [""])
        assert reply.body[0]["AppId"].value == ex.thing.identity.app_id
    finally:
        client.disconnect()
