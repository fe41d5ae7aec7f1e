"""Signal pacing: 20,000 PropertiesChanged in one burst all arrive and the connection lives;
bursts with quiet between them arrive in order, and a quiet pacer runs no task; a signal with
nothing queued before it is sent at once, and one after a full batch waits for the round trip.

dbus-fast 5.2 drops its connection when the socket buffer fills (EAGAIN treated as fatal).
On a multi-core machine dbus-daemon usually drains the socket fast enough to hide that, so the
test pins itself and the daemon to one CPU, where an unpaced burst of this size reliably kills
the connection (checked while writing the pacer), the situation of a single-core board.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator

import pytest
from dbus_fast import Message
from dbus_fast.aio import MessageBus

from bridge.alljoyn.bus import connect, parse_bus
from bridge.alljoyn.pacing import SignalPacer
from bridge.sim.alljoyn import AllJoynSimServer
from bridge.sim.testing.dbus import DBusDaemon
from bridge.sim.testing.procs import await_until
from tests.alljoyn.conftest import SimFactory
from tests.alljoyn.test_producer import add_match

SIGNALS = 20_000


@pytest.fixture
def one_cpu(dbus_daemon: DBusDaemon) -> Iterator[None]:
    mine = os.sched_getaffinity(0)
    daemon = os.sched_getaffinity(dbus_daemon.pid)
    cpu = {min(mine)}
    os.sched_setaffinity(0, cpu)
    os.sched_setaffinity(dbus_daemon.pid, cpu)
    yield
    os.sched_setaffinity(0, mine)
    if dbus_daemon.running:
        os.sched_setaffinity(dbus_daemon.pid, daemon)


async def test_burst_of_properties_changed_is_delivered_completely(
        one_cpu: None, make_sim: SimFactory, client: MessageBus) -> None:
    sim: AllJoynSimServer = await make_sim("light", "Burst")
    assert sim.producer is not None
    received: list[float] = []

    def collect(msg: Message) -> bool:
        if msg.member == "PropertiesChanged" and msg.path == "/light":
            received.append(msg.body[1]["Brightness"].value)
        return False

    client.add_message_handler(collect)
    await add_match(client, f"type='signal',sender='{sim.producer.unique_name}'")
    for i in range(SIGNALS):
        # alternate so that every set is a change and produces one signal
        sim.device.set("brightness", {"brightness": 10 + i % 2})
    producer = sim.producer
    await await_until(lambda: len(received) >= SIGNALS or not producer.connected, timeout=90,
                      message=f"{SIGNALS} PropertiesChanged")
    assert len(received) == SIGNALS
    assert received[:4] == [0.1, 0.11, 0.1, 0.11]
    assert sim.producer.connected
    assert sim.producer.pacer is not None and sim.producer.pacer.sent == SIGNALS + 1  # +Announce


async def test_a_quiet_pacer_runs_no_task_and_every_burst_arrives_in_order(
        dbus_daemon: DBusDaemon, client: MessageBus) -> None:
    bus = await connect(parse_bus(dbus_daemon.address))
    pacer = SignalPacer(bus, batch=3, label="quiet test")
    received, running = await listen(client, bus, "quiet test")

    try:
        pacer.emit(tick(0))  # queued before the start: sent once started
        assert running() == []
        pacer.start()
        for burst in range(3):
            for i in range(1 + 5 * burst, 6 + 5 * burst):
                pacer.emit(tick(i))
            await pacer.drain()
            assert running() == []  # the burst is out: no task waits for the next one
        await await_until(lambda: len(received) >= 16, timeout=20, message="16 signals")
        assert received == list(range(16)) and pacer.sent == 16
    finally:
        await pacer.stop()
        bus.disconnect()


async def test_a_signal_with_nothing_before_it_is_sent_at_once_and_a_full_batch_waits(
        dbus_daemon: DBusDaemon, client: MessageBus) -> None:
    bus = await connect(parse_bus(dbus_daemon.address))
    pacer = SignalPacer(bus, batch=3, label="direct test")
    received, running = await listen(client, bus, "direct test")

    try:
        pacer.start()
        pacer.emit(tick(0))
        # Handed to the bus in the caller's turn, no task for it.
        assert pacer.sent == 1 and running() == []
        pacer.emit(tick(1))
        pacer.emit(tick(2))  # the third of the batch: a round trip is due
        assert pacer.sent == 3 and len(running()) == 1
        pacer.emit(tick(3))
        assert pacer.sent == 3  # waits for the round trip, behind nothing else
        await pacer.drain()
        assert pacer.sent == 4 and running() == []
        pacer.emit(tick(4))
        assert pacer.sent == 5 and running() == []
        await await_until(lambda: len(received) >= 5, timeout=20, message="5 signals")
        assert received == [0, 1, 2, 3, 4]
    finally:
        await pacer.stop()
        bus.disconnect()


async def listen(client: MessageBus, bus: MessageBus, label: str
                 ) -> tuple[list[int], Callable[[], list[asyncio.Task[object]]]]:
    """The Tick numbers ``client`` receives from ``bus``, and the pacer tasks of ``label``
    running now."""
    received: list[int] = []

    def collect(msg: Message) -> bool:
        if msg.member == "Tick":
            received.append(msg.body[0])
        return False

    def running() -> list[asyncio.Task[object]]:
        return [t for t in asyncio.all_tasks() if t.get_name() == f"signals {label}"]

    client.add_message_handler(collect)
    await add_match(client, f"type='signal',sender='{bus.unique_name}'")
    return received, running


def tick(number: int) -> Message:
    return Message.new_signal("/pacer", "org.example.Pacer", "Tick", "u", [number])
