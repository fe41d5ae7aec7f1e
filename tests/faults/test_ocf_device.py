"""OCF device faults under a real gateway (issue 9 point 2):

- the device process is killed (SIGKILL: no goodbye) and started again with new ports and a
  new ``di`` but its ``piid``: it is the same Thing, with the same virtual AllJoyn AppId;
- the device's network interface goes down and up: the device is withdrawn on AllJoyn while
  unreachable, then rediscovered with the same identity.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from bridge.sim.processes import SimProcess
from tests.e2e.alljoyn_consumer import ON_OFF_STATUS, Consumer
from tests.e2e.conftest import DETECTION_TIME, Rig

#: a discovery round's reply window and one request timeout on top of the detection time.
MARGIN = 4.0


def fixed_piid_device(rig: Rig, host: str, name: str, piid: str) -> SimProcess:
    where = rig.host(host)
    sim = SimProcess([], popen=where.popen, log_path=rig.tmp / f"sim-{name}.log")
    sim.args = [sys.executable, "-m", "tests.faults.fixed_piid_device", name, piid, "eth0"]
    rig.sims.append(sim)
    return sim


async def test_killed_device_returns_on_new_ports_with_new_di_as_the_same_thing(
        rig: Rig, consumer: Consumer) -> None:
    piid = str(uuid.uuid4())
    first = fixed_piid_device(rig, "lamp", "Lamp", piid)
    ready = (await asyncio.to_thread(first.start))[0]
    await rig.start_gateway()
    app = await consumer.wait_app("Lamp", virtual=True)

    assert first.process is not None
    first.process.kill()  # SIGKILL: no deregistration, sockets vanish
    first.process.wait()
    await consumer.wait_gone(app.unique_name, DETECTION_TIME + MARGIN)

    second = fixed_piid_device(rig, "lamp", "Lamp", piid)
    back = (await asyncio.to_thread(second.start))[0]
    assert back["piid"] == piid and back["di"] != ready["di"]
    assert back["port"] != ready["port"], (ready, back)
    again = await consumer.wait_app("Lamp", virtual=True, within=DETECTION_TIME + MARGIN)
    assert (again.app_id, again.device_id) == (app.app_id, app.device_id), rig.logs()
    virtual = [a for a in await consumer.scan() if a.name == "Lamp" and a.virtual]
    assert len(virtual) == 1, [(a.name, a.unique_name) for a in virtual]
    # And it is live: a change at the new process reaches the AllJoyn consumer.
    second.set("Lamp", "switch", {"on": True})
    await consumer.wait_change(again.unique_name, ON_OFF_STATUS, "IsOn", True)


async def test_interface_down_and_up_rediscovers_the_device(rig: Rig,
                                                            consumer: Consumer) -> None:
    await rig.ocf_sim("Lamp", "light")
    await rig.start_gateway()
    app = await consumer.wait_app("Lamp", virtual=True)
    host = rig.host("lamp")

    host.run(["ip", "link", "set", "eth0", "down"], check=True)
    await consumer.wait_gone(app.unique_name, DETECTION_TIME + MARGIN)
    host.run(["ip", "link", "set", "eth0", "up"], check=True)
    again = await consumer.wait_app("Lamp", virtual=True, within=DETECTION_TIME + MARGIN + 3)
    assert (again.app_id, again.device_id) == (app.app_id, app.device_id), rig.logs()
    assert await consumer.get(again, ON_OFF_STATUS, "IsOn") is False
