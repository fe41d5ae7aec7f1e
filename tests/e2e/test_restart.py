"""Issue 5 point 4: virtual identities persist in the state directory and survive a gateway
restart, also when the OCF device comes back with a fresh random ``di`` meanwhile."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from aiocoap import Context

from tests.e2e.alljoyn_consumer import Consumer
from tests.e2e.conftest import Rig
from tests.e2e.ocf_client import body, request
from tests.e2e.waiting import virtual_ocf_device


async def _virtual_ocf_identity(coap: Context, name: str, rig: Rig) -> dict[str, Any]:
    device = await virtual_ocf_device(coap, name, rig)
    info = body(await request(coap, "GET", device.base + "/oic/d"))
    return {"di": info["di"], "piid": info["piid"]}


async def _wait_file(path: Path, contains: str, rig: Rig, within: float = 10.0) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        text = await asyncio.to_thread(_read, path)
        if contains in text:
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} does not mention {contains} within {within} s\n{rig.logs()}")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def test_identities_survive_restart_and_fresh_di(rig: Rig, consumer: Consumer,
                                                       coap: Context) -> None:
    lamp = await rig.ocf_sim("Lamp", "light")
    first_di = lamp.events[0]["di"]
    await rig.alljoyn_sim("Thermo", "thermostat")
    gateway = await rig.start_gateway()

    app = await consumer.wait_app("Lamp", virtual=True)
    # OCF -> AllJoyn: AppId = the 16 bytes of the di the gateway first saw.
    assert app.app_id == uuid.UUID(first_di).bytes
    thermo = await _virtual_ocf_identity(coap, "Thermo", rig)
    book = rig.state_dir("gw") / "identities.json"
    await _wait_file(book, app.app_id.hex(), rig)
    assert thermo["piid"] in await _wait_file(book, thermo["piid"], rig)

    assert gateway.stop() == 0, rig.logs()
    await consumer.wait_gone(app.unique_name)
    assert "gateway gw stopped" in gateway.log()

    # While the gateway is down, the OCF device restarts with a fresh di (no security).
    lamp.send({"cmd": "leave", "device": "Lamp"})
    await asyncio.to_thread(lamp.wait_event, lambda e: e.get("event") == "left")
    lamp.send({"cmd": "return", "device": "Lamp"})
    back = await asyncio.to_thread(lamp.wait_event, lambda e: e.get("event") == "ready")
    assert back["di"] != first_di and back["piid"] == lamp.events[0]["piid"]

    await asyncio.to_thread(gateway.start, 30.0)
    again = await consumer.wait_app("Lamp", virtual=True)
    assert again.unique_name != app.unique_name
    assert (again.app_id, again.device_id) == (app.app_id, app.device_id), rig.logs()
    assert await _virtual_ocf_identity(coap, "Thermo", rig) == thermo

    # A new device is a new entry: the book is written again and the last file kept as backup.
    await rig.alljoyn_sim("Plug", "light")
    await consumer.wait_app("Plug", virtual=False)
    text = await _wait_file(book, "Plug".lower(), rig)
    backup = book.with_name("identities.json.bak")
    assert backup.exists(), sorted(p.name for p in book.parent.iterdir())
    assert json.loads(text)["version"] == 1
    assert app.app_id.hex() in backup.read_text()
    assert not [p.name for p in book.parent.iterdir() if p.name.endswith(".tmp")]
