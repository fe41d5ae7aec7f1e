"""Issue 5 point 4: virtual identities persist in the state directory and survive a gateway
restart, also when the OCF device comes back with a fresh random ``di`` meanwhile."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from aiocoap import Context

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.alljoyn_consumer import Consumer
from tests.e2e.conftest import LIGHT, THERMOSTAT
from tests.e2e.ocf_client import body, request
from tests.e2e.waiting import HasLogs, virtual_ocf_device


async def _virtual_ocf_identity(coap: Context, name: str, gateways: HasLogs) -> dict[str, Any]:
    device = await virtual_ocf_device(coap, name, gateways)
    info = body(await request(coap, "GET", device.base + "/oic/d"))
    return {"di": info["di"], "piid": info["piid"]}


async def _wait_file(path: Path, contains: str, gateways: HasLogs, within: float = 10.0) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        text = await asyncio.to_thread(_read, path)
        if contains in text:
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} does not mention {contains} within {within} s\n"
                         f"{gateways.logs()}")


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def test_identities_survive_restart_and_fresh_di(
        ocf_device: DeviceFactory, alljoyn_device: DeviceFactory,
        gateway_factory: TestGateways, consumer: Consumer, coap: Context) -> None:
    lamp = ocf_device("light", "Lamp")
    first = lamp.facts
    alljoyn_device(THERMOSTAT, "Thermo")
    gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True)
    logs = gateway_factory.logs

    app = await consumer.wait_app("Lamp", virtual=True)
    # OCF -> AllJoyn: AppId = the 16 bytes of the di the gateway first saw.
    assert app.app_id == uuid.UUID(first["di"]).bytes
    thermo = await _virtual_ocf_identity(coap, "Thermo", gateway_factory)
    book = gateway.state_dir / "identities.json"
    await _wait_file(book, app.app_id.hex(), gateway_factory)
    assert thermo["piid"] in await _wait_file(book, thermo["piid"], gateway_factory)

    assert gateway.stop() == 0, logs()
    await consumer.wait_gone(app.unique_name)
    assert "gateway gw stopped" in gateway.log()

    # While the gateway is down, the OCF device restarts with a fresh di (no security).
    await asyncio.to_thread(lamp.leave)
    back = await asyncio.to_thread(lamp.come_back)
    assert back["di"] != first["di"] and back["piid"] == first["piid"]

    await asyncio.to_thread(gateway.start, 30.0)
    again = await consumer.wait_app("Lamp", virtual=True)
    assert again.unique_name != app.unique_name
    assert (again.app_id, again.device_id) == (app.app_id, app.device_id), logs()
    assert await _virtual_ocf_identity(coap, "Thermo", gateway_factory) == thermo

    # A new device is a new entry: the book is written again and the last file kept as backup.
    await asyncio.to_thread(alljoyn_device, LIGHT, "Plug")
    await consumer.wait_app("Plug", virtual=False)
    text = await _wait_file(book, "Plug".lower(), gateway_factory)
    backup = book.with_name("identities.json.bak")
    assert backup.exists(), sorted(p.name for p in book.parent.iterdir())
    assert json.loads(text)["version"] == 1
    assert app.app_id.hex() in backup.read_text()
    assert not [p.name for p in book.parent.iterdir() if p.name.endswith(".tmp")]
