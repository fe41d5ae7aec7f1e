"""Issue 17 point 4: ``ocfaj simulate obt``, driven as a subprocess, onboards the gateway's
secured bridge device and the secured virtual device of an AllJoyn lamp
(``[ocf] secure_virtual_devices``): ``discover`` finds both by multicast, ``own`` takes them
with their PINs (a wrong PIN first: refused), ``provision-client`` gives one client read,
update and notify (it reads and switches the lamp over coaps) and another read only (its
switch gets 4.03 and nothing reaches the lamp), ``status`` shows the SVRs without a key,
``reset`` returns the lamp's device to RFOTM. Bad arguments get exit status 2 and a clear
line; an action on a device the tool does not own, exit status 1."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from bridge.core.errors import DeviceError
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.keyring import Keyring
from bridge.ocf.links import parse_endpoint
from bridge.ocf.sec_keys import nul_free_uuid
from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.netns import BRIDGE, OcfNetwork
from tests.e2e.conftest import LIGHT
from tests.e2e.test_forgetting import named, wait_rows
from tests.e2e.test_secure_virtual_devices import secured

Lines = list[dict[str, Any]]


class Obt:
    """``ocfaj simulate obt`` over one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done: subprocess.CompletedProcess[str] = subprocess.run(
            [sys.executable, "-m", "bridge", "simulate", "obt", "--state-dir",
             str(self.state_dir), "--interface", BRIDGE, *args],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        return done

    async def ok(self, *args: str) -> Lines:
        done = await asyncio.to_thread(self.run, *args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return [json.loads(line) for line in done.stdout.splitlines()]

    async def refused(self, status: int, *args: str) -> str:
        done = await asyncio.to_thread(self.run, *args)
        assert done.returncode == status, (args, done.stdout, done.stderr)
        last = done.stderr.strip().splitlines()[-1]
        assert done.stdout == "" and last.startswith("ocfaj simulate obt: "), done
        return last


def client_of(me: uuid.UUID, device: str, psk_file: Path) -> OcfClient:
    key = bytes.fromhex(psk_file.read_text("ascii"))
    return OcfClient(5.0, 65536, keyring=Keyring(me, {uuid.UUID(device): key}))


async def test_obt_command_onboards_the_bridge_and_a_virtual_device_and_provisions_clients(
        alljoyn_device: DeviceFactory, gateway_factory: TestGateways, ocf_network: OcfNetwork,
        tmp_path: Path) -> None:
    if not ocf_network.multicast:
        pytest.fail("obt discover finds devices by multicast: it needs the netns OCF network "
                    "(run the tests isolated: ./scripts/test)")
    lamp = alljoyn_device(LIGHT, "Desk")
    gateway = await asyncio.to_thread(gateway_factory, "gw", own_host=True,
                                      ocf={"secure_virtual_devices": True})
    logs = gateway_factory.logs
    rows = await wait_rows(gateway, secured("Desk"), "Desk secured", gateway_factory, 20.0)
    desk_row = named(rows, "Desk")
    assert desk_row is not None
    bridge_row = next(row for row in rows if row["device_type"] == "oic.d.bridge")
    obt = Obt(tmp_path / "obt")

    # Bad arguments: exit 2, nothing sent.
    assert "8 digits" in await obt.refused(2, "own", bridge_row["di"], "--pin", "123")
    assert "not a uuid" in await obt.refused(2, "status", "desk")
    assert "letters of crudn" in await obt.refused(
        2, "provision-client", str(uuid.uuid4()), "--client-uuid", str(uuid.uuid4()),
        "--psk-file", str(tmp_path / "x.psk"), "--permission", "rwx")
    assert "owns no device" in await obt.refused(1, "status", str(uuid.uuid4()))
    assert stat.S_IMODE((obt.state_dir / "obt.json").stat().st_mode) == 0o600
    owner = json.loads((obt.state_dir / "obt.json").read_text())["uuid"]

    found = {line["uuid"]: line for line in await obt.ok("discover")}
    assert {bridge_row["di"], desk_row["di"]} <= found.keys(), found
    assert found[desk_row["di"]]["oxms"] == [1] and found[desk_row["di"]]["name"] == "Desk"
    assert found[desk_row["di"]]["coaps"].startswith("coaps://")

    # The bridge device first, then the lamp's; a wrong PIN is refused and changes nothing.
    bridge_pin = bridge_row["ocf_security"]["pin"]
    wrong = "00000000" if bridge_pin != "00000000" else "11111111"
    assert "wrong PIN" in await obt.refused(1, "own", bridge_row["di"], "--pin", wrong)
    (bridge,) = await obt.ok("own", bridge_row["di"], "--pin", bridge_pin)
    (desk,) = await obt.ok("own", desk_row["di"], "--pin", desk_row["ocf_security"]["pin"])
    assert desk["was"] == desk_row["di"] and desk["owned"] != desk_row["di"]
    assert bridge["owned"] != desk["owned"]
    await wait_rows(gateway, lambda r: named(r, "Desk")["ocf_security"]["owned"],  # type: ignore[index]
                    "Desk owned", gateway_factory, 10.0)

    # One client may read, switch and observe; another only read.
    reader, writer = nul_free_uuid(), nul_free_uuid()
    writer_psk, reader_psk = tmp_path / "writer.psk", tmp_path / "reader.psk"
    (granted,) = await obt.ok("provision-client", desk["owned"], "--client-uuid", str(writer),
                              "--psk-file", str(writer_psk), "--permission", "run")
    assert granted["permission"] == 2 | 4 | 16 and granted["resources"] == ["*"]
    assert stat.S_IMODE(writer_psk.stat().st_mode) == 0o600
    await obt.ok("provision-client", desk["owned"], "--client-uuid", str(reader),
                 "--psk-file", str(reader_psk), "--permission", "r", "--resources", "/switch")
    secure = parse_endpoint(desk["coaps"])
    assert secure is not None
    client = client_of(writer, desk["owned"], writer_psk)
    await client.start()
    try:
        assert "value" in await client.get(secure, "/switch")
        await client.post(secure, "/switch", {"value": True})
    finally:
        await client.shutdown()
    assert await lamp.received("switch") == {"on": True}, logs()
    client = client_of(reader, desk["owned"], reader_psk)
    await client.start()
    try:
        assert "value" in await client.get(secure, "/switch")
        with pytest.raises(DeviceError) as denied:
            await client.post(secure, "/switch", {"value": False})
        assert denied.value.code == 403
    finally:
        await client.shutdown()
    assert lamp.writes("switch") == [{"on": True}]  # the denied switch reached nothing

    (status,) = await obt.ok("status", desk["owned"])
    assert status["doxm"]["owned"] is True and status["doxm"]["devowneruuid"] == owner
    assert status["pstat"]["dos"]["s"] == 3
    assert {c["subjectuuid"] for c in status["creds"]} == {owner, str(writer), str(reader)}
    assert [ace["permission"] for ace in status["aclist2"]] == [2 | 4 | 16, 2]
    listed = json.dumps(status)
    for psk in (writer_psk, reader_psk):
        assert psk.read_text().strip() not in listed

    # A reset: the lamp's device is unowned again under its first uuid, and forgotten here.
    assert await obt.ok("reset", desk["owned"]) == [{"reset": desk["owned"]}]
    assert "owns no device" in await obt.refused(1, "status", desk["owned"])
    again = {line["uuid"]: line for line in await obt.ok("discover")}
    assert desk_row["di"] in again and bridge_row["di"] not in again, again
