"""A full disk under the MQTT outbox (issue 9 point 2), on a real small tmpfs.

The outbox on its own first: past the disk's end it keeps the newest messages in order, drops
the oldest, counts them, says so once, and never raises. Then the real gateway with its state
directory on that disk and the broker down: the outbox fills the disk, the gateway keeps
bridging OCF <-> AllJoyn, and once the broker is back what is left arrives in order.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from aiocoap import Context

from bridge.sim.processes import GatewayProcess
from bridge.sim.testing.mosquitto import MosquittoFactory
from tests.e2e.alljoyn_consumer import ON_OFF_STATUS, Consumer
from tests.e2e.conftest import Rig, gateway_config
from tests.e2e.ocf_client import dotted, request
from tests.e2e.waiting import virtual_ocf_device
from tests.faults.refusals import EVENTS, first_occurrences, refused_values
from tests.faults.small_disk import on_small_disk, seen_by
from tests.mqtt.conftest import Recorder

#: small enough to fill in a second, large enough for SQLite's files and a few hundred messages.
DISK = "512k"
STATE = "ocfaj/bridge/state"
#: refused writes while the broker is down, with brightness FIRST, FIRST + 1...: far more
#: bridge events than the disk holds.
REFUSED = 2500
FIRST = 1000


def test_the_outbox_drops_the_oldest_when_the_disk_is_full(tmp_path: Path) -> None:
    total = 6000
    directory = tmp_path / "state"
    done = on_small_disk(directory, DISK)(
        [sys.executable, "-m", "tests.faults.outbox_filler", str(directory), str(total)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    result = json.loads(out)
    kept, dropped = result["kept"], result["dropped"]
    # The disk held a few hundred messages: the rest, the oldest, were dropped and counted.
    assert 100 < len(kept) < total // 2, result["log"]
    assert kept == list(range(total - len(kept), total)), "not the newest, or out of order"
    assert dropped == total - len(kept)
    full = [line for line in result["log"] if "is full" in line]
    assert len(full) == 1 and full[0].startswith("WARNING"), result["log"]
    assert any(f"the full disk cost {dropped} messages" in line for line in result["log"]), \
        result["log"]


async def test_gateway_on_a_full_disk_keeps_bridging_and_replays_the_rest_in_order(
        rig: Rig, consumer: Consumer, coap: Context,
        mosquitto_factory: MosquittoFactory) -> None:
    # A persistent broker and a persistent subscriber: nothing the gateway replays is missed
    # while the subscriber reconnects.
    broker = mosquitto_factory(persistence=True, config_extra="max_queued_messages 0")
    recorder = await Recorder(broker.host, broker.port, persistent=True,
                              topics=(EVENTS, STATE)).start()
    state_dir = rig.state_dir("gw")
    # The refused writes come from one client address, far more than the per-client request
    # cap allows within an exchange lifetime: lift the caps, they are not what is tested here.
    text = gateway_config("gw", state_dir, rig.dbus.address, {
        "ocf": {"interfaces": ["ocfbr0"], "max_requests_per_client": 100_000,
                "max_requests": 100_000},
        "mqtt": {"host": broker.host, "port": broker.port, "keepalive": 2,
                 "reconnect_max_delay": 0.5}})
    gateway = GatewayProcess(text, rig.tmp, popen=on_small_disk(state_dir, DISK), name="gw")
    rig.gateways.append(gateway)
    try:
        lamp = await rig.alljoyn_sim("Lamp", "light")
        bulb = await rig.ocf_sim("Bulb", "light")
        await asyncio.to_thread(gateway.start, 30.0)
        assert gateway.process is not None
        outbox = seen_by(gateway.process.pid, state_dir / "mqtt-outbox.sqlite3")
        await recorder.wait_last(STATE, {"state": "online"})
        brightness = (await virtual_ocf_device(coap, "Lamp", rig)).uri("oic.r.light.brightness")
        bulb_app = await consumer.wait_app("Bulb", virtual=True)

        await asyncio.to_thread(broker.stop)
        # Each refused write is one bridge event that is never coalesced: they fill the disk.
        for n in range(REFUSED):
            response = await request(coap, "POST", brightness, {"brightness": FIRST + n})
            assert dotted(response) == "4.00", (n, rig.logs())
        assert "MQTT outbox" in gateway.log() and "is full" in gateway.log(), rig.logs()
        assert outbox.exists()

        # Both directions still cross while the disk is full.
        bulb.set("Bulb", "switch", {"on": True})
        await consumer.wait_change(bulb_app.unique_name, ON_OFF_STATUS, "IsOn", True)
        response = await request(coap, "POST", brightness, {"brightness": 30})
        assert dotted(response) == "2.04", rig.logs()
        assert (await asyncio.to_thread(lamp.wait_received, "Lamp", "brightness"))["values"] \
            == {"brightness": 30}

        await asyncio.to_thread(broker.start)
        last = FIRST + REFUSED - 1
        await recorder.wait_for(lambda: last in refused_values(recorder), within=30,
                                message="the newest refusal")
        seen = first_occurrences(refused_values(recorder))
        # The oldest were dropped; the rest arrived, every one, in order.
        assert seen[0] > FIRST, "nothing was dropped: the disk never filled"
        assert seen == list(range(seen[0], last + 1)), seen
        await recorder.wait_last(STATE, {"state": "online"})
        log = gateway.log()
        assert log.count("is full: dropping the oldest") == 1, rig.logs()
        assert "Traceback" not in log, rig.logs()
    finally:
        await recorder.stop()

