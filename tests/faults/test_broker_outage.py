"""The MQTT broker stopped under a running gateway and unreachable for a while (issue 9 point 2),
with the real gateway process and simulated devices: what happened during the outage reaches
the broker once it is back, nothing lost and in order; the bridge state is online again and
the retained device state is published again.

``tests/mqtt`` tests the same at the level of the MQTT side; this is the whole gateway. The
broker keeps its sessions (persistence) and the recorder's session is persistent, so the
recorder misses nothing the gateway replays while it is itself reconnecting.
"""

from __future__ import annotations

import asyncio

from aiocoap import Context

from bridge.sim.testing.mosquitto import MosquittoFactory
from tests.e2e.conftest import Rig
from tests.e2e.ocf_client import body, dotted, request
from tests.e2e.waiting import virtual_ocf_device
from tests.faults.refusals import first_occurrences, refused_values
from tests.mqtt.conftest import Recorder

BRIDGE_STATE = "ocfaj/bridge/state"
LAMP = "ocfaj/lamp"
#: refused writes during the outage (brightness FIRST, FIRST + 1...): bridge events, each of
#: which must arrive.
REFUSED = 50
FIRST = 1000
#: brightness changes at the device during the outage; state is coalesced, the last one counts.
LEVELS = (10, 20, 30, 40)


async def test_an_outage_loses_nothing_and_the_state_is_published_again(
        rig: Rig, coap: Context, mosquitto_factory: MosquittoFactory) -> None:
    broker = mosquitto_factory(persistence=True, config_extra="max_queued_messages 0")
    recorder = await Recorder(broker.host, broker.port, persistent=True,
                              topics=("ocfaj/#",)).start()
    fresh: Recorder | None = None
    try:
        lamp = await rig.alljoyn_sim("Lamp", "light")
        await rig.start_gateway(local=True, overrides={"mqtt": {
            "host": broker.host, "port": broker.port, "keepalive": 2,
            "reconnect_max_delay": 1.0}})
        await recorder.wait_last(f"{LAMP}/availability", {"state": "online"})
        brightness = (await virtual_ocf_device(coap, "Lamp", rig)).uri("oic.r.light.brightness")

        await asyncio.to_thread(broker.stop)
        lamp.set("Lamp", "switch", {"on": True})
        for level in LEVELS:
            lamp.set("Lamp", "brightness", {"brightness": level})
        for n in range(REFUSED):
            response = await request(coap, "POST", brightness, {"brightness": FIRST + n})
            assert dotted(response) == "4.00", (n, rig.logs())
        # The gateway has the last level (so it queued it) before the broker returns.
        await until_ocf_brightness(coap, brightness, LEVELS[-1])
        before_return = len(recorder.messages)
        await asyncio.to_thread(broker.start)

        last = FIRST + REFUSED - 1
        await recorder.wait_for(lambda: last in refused_values(recorder), within=30,
                                message="the last refusal")
        assert first_occurrences(refused_values(recorder)) == list(range(FIRST, last + 1))
        after = recorder.messages[before_return:]
        await recorder.wait_last(BRIDGE_STATE, {"state": "online"})
        state = await recorder.wait_last(LAMP, {"switch": {"on": True},
                                                "brightness": {"brightness": LEVELS[-1]}})
        assert state.retain, "the state is not retained"
        levels = [m.json()["brightness"]["brightness"] for m in after if m.topic == LAMP]
        assert levels == sorted(levels), f"state snapshots out of order: {levels}"

        # A subscriber that comes after the outage gets the state from the broker.
        fresh = await Recorder(broker.host, broker.port).start()
        await fresh.wait_last(LAMP, {"switch": {"on": True},
                                     "brightness": {"brightness": LEVELS[-1]}})
        await fresh.wait_last(BRIDGE_STATE, {"state": "online"})
    finally:
        await recorder.stop()
        if fresh is not None:
            await fresh.stop()


async def until_ocf_brightness(coap: Context, uri: str, level: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10.0
    while True:
        response = await request(coap, "GET", uri)
        if dotted(response) == "2.05" and body(response).get("brightness") == level:
            return
        assert loop.time() < deadline, f"brightness never became {level}: {body(response)}"
        await asyncio.sleep(0.1)
