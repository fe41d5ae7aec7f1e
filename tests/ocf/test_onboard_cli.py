"""``ocfaj onboard`` / ``ocfaj offboard`` against the secured simulated device of the kit
(``ocf_device(..., secure=True)``, in its own network namespace): methods shown, wrong PIN
refused, ownership, credentials at rest (0600, no key printed), coaps access, offboarding."""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from bridge.daemon.cli import main
from bridge.daemon.ocf_credentials import FILE, OcfCredentials
from bridge.ocf import svr
from bridge.ocf.coap_client import OcfClient
from bridge.ocf.links import parse_endpoint
from bridge.sim.pytest_plugin import OcfDeviceFactory


def cli(capsys: pytest.CaptureFixture[str], state: Path, *args: str) -> tuple[int, str]:
    status = main([*args[:1], "--set", f"gateway.state_dir={state}", *args[1:]])
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def read(uri: str, href: str, store: OcfCredentials | None = None) -> Any:
    async def run() -> Any:
        client = OcfClient(5.0, 65536, keyring=store.keyring() if store else None)
        await client.start()
        try:
            ep = parse_endpoint(uri)
            assert ep is not None
            return await client.get(ep, href)
        finally:
            await client.shutdown()
    return asyncio.run(run())


def test_onboard_bridge_access_and_offboard(ocf_device: OcfDeviceFactory, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    device = ocf_device("light", "Porch", secure=True)
    pin = device.facts["pin"]
    status, out = cli(capsys, tmp_path, "onboard", "--device", device.endpoint)
    assert status == 0 and "Random PIN" in out and "unowned" in out
    wrong = "00000000" if pin != "00000000" else "11111111"
    status, out = cli(capsys, tmp_path, "onboard", "--device", device.endpoint, "--pin", wrong)
    assert status == 1 and "wrong PIN" in out
    assert read(device.endpoint, svr.DOXM)["owned"] is False
    status, out = cli(capsys, tmp_path, "onboard", "--device", device.endpoint, "--pin", pin)
    assert status == 0, out
    path = tmp_path / FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    store = OcfCredentials(tmp_path).load()
    (record,) = store.devices.values()
    assert record.key.hex() not in out and record.key.hex() in path.read_text()
    status, listed = cli(capsys, tmp_path, "onboard", "--list")
    assert status == 0 and str(record.uuid) in listed and record.key.hex() not in listed
    # survives a restart of the store; the device answers the gateway over coaps only
    again = OcfCredentials(tmp_path).load()
    assert again.own == store.own and again.devices[record.uuid].key == record.key
    href = device.href("switch")
    assert "value" in read(record.coaps, href, again)
    with pytest.raises(Exception, match="401"):
        read(device.endpoint, href)
    status, out = cli(capsys, tmp_path, "offboard", str(record.uuid))
    assert status == 0, out
    assert OcfCredentials(tmp_path).load().devices == {}
    doxm = read(device.endpoint, svr.DOXM)
    assert doxm["owned"] is False and uuid.UUID(doxm["deviceuuid"]) != record.uuid
    assert json.loads(path.read_text())["devices"] == {}
