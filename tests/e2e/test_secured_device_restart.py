"""Issue 16 point 5: a secured OCF device that keeps its security across its own restart.

The simulated secured device runs with ``--state-dir`` (the ``ocf_device`` fixture's
``state_dir``); the gateway owns it with its Random PIN and bridges it over coaps. Then the
gateway AND the device stop and start again: the device comes back owned, under the uuid and
``piid`` it had, from its file (mode 0600); the gateway bridges it again over coaps with the
credential it kept, without a new onboarding (its credential store is unchanged and no PIN
is asked for); a command from AllJoyn reaches the device through the new DTLS session.
Offboarding then returns it to RFOTM, and the device's file says so."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any

from dbus_fast import MessageType

from bridge.daemon.ocf_credentials import OcfCredentials
from bridge.sim.pytest_plugin import OcfDeviceFactory
from bridge.sim.testing.gateways import TestGateways
from tests.e2e.alljoyn_consumer import ON_CONTROL, Consumer
from tests.e2e.test_forgetting import wait_rows
from tests.e2e.test_secured_devices import bridged, not_bridgeable, ocfaj


def saved(state_dir: Path) -> dict[str, object]:
    path = state_dir / "ocf-device-1.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    security = json.loads(path.read_text("utf-8"))["security"]
    assert isinstance(security, dict)
    return security


async def onboarded_porch(ocf_device: OcfDeviceFactory, gateway_factory: TestGateways,
                          state_dir: Path) -> tuple[Any, Any, OcfCredentials, Any]:
    """A secured "Porch" light keeping its state in ``state_dir``, onboarded by a gateway
    with its PIN and bridged over coaps: (device, gateway, its credential store, the record)."""
    lamp = ocf_device("light", "Porch", secure=True, state_dir=state_dir)
    assert saved(state_dir)["owned"] is False
    gateway = await asyncio.to_thread(gateway_factory, "gw")
    await wait_rows(gateway, not_bridgeable("Porch"), "Porch listed as not bridgeable",
                    gateway_factory, 20.0)
    done = await asyncio.to_thread(ocfaj, gateway, "onboard", "--device", lamp.endpoint,
                                   "--pin", lamp.facts["pin"])
    assert done.returncode == 0, (done.stdout, done.stderr)
    store = OcfCredentials(gateway.state_dir)
    (record,) = store.load().devices.values()
    await wait_rows(gateway, bridged("Porch"), "Porch bridged over coaps", gateway_factory,
                    20.0)
    return lamp, gateway, store, record


async def test_owned_device_and_gateway_restart_and_the_device_is_bridged_again(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways, consumer: Consumer,
        tmp_path: Path) -> None:
    state_dir = tmp_path / "porch-state"
    lamp, gateway, store, record = await onboarded_porch(ocf_device, gateway_factory,
                                                         state_dir)
    logs = gateway_factory.logs
    credentials = (gateway.state_dir / "ocf-credentials.json").read_bytes()
    first = saved(state_dir)
    assert first["owned"] is True and first["deviceuuid"] == str(record.uuid)
    assert first["dos"] == 3 and first["devowneruuid"] == first["rowneruuid"]
    assert [c["subject"] for c in first["creds"]] == [first["devowneruuid"]]  # type: ignore[index,union-attr]
    piid = lamp.facts["piid"]
    app = await consumer.wait_app("Porch", virtual=True)

    # Both stop; the device starts again first, owned, from its file.
    assert await asyncio.to_thread(gateway.stop) == 0, logs()
    await consumer.wait_gone(app.unique_name)
    await asyncio.to_thread(lamp.stop)
    await asyncio.to_thread(lamp.start, {})
    assert lamp.facts["deviceuuid"] == str(record.uuid) and lamp.facts["piid"] == piid
    assert saved(state_dir) == first
    assert lamp.process.log_path is not None
    assert f"secured device Porch is owned by {first['devowneruuid']}" in \
        lamp.process.log_path.read_text(errors="replace")
    await asyncio.to_thread(gateway.start, 30.0)
    await wait_rows(gateway, bridged("Porch"), "Porch bridged again after both restarted",
                    gateway_factory, 30.0)
    again = await consumer.wait_app("Porch", virtual=True, within=30.0)
    assert again.app_id == app.app_id
    reply = await consumer.invoke(again, ON_CONTROL, "SwitchOn")
    assert reply.message_type is MessageType.METHOD_RETURN, (reply.error_name, reply.body,
                                                              logs())
    assert await lamp.received("switch") == {"on": True}
    # No new onboarding: the gateway's credential store is byte for byte the one it wrote.
    assert (gateway.state_dir / "ocf-credentials.json").read_bytes() == credentials

    # Offboarded: RFOTM again, on the device and in its file.
    off = await asyncio.to_thread(ocfaj, gateway, "offboard", str(record.uuid))
    assert off.returncode == 0, (off.stdout, off.stderr)
    await wait_rows(gateway, not_bridgeable("Porch"), "Porch not bridgeable again",
                    gateway_factory, 20.0)
    after = saved(state_dir)
    assert after["owned"] is False and after["dos"] == 1 and after["creds"] == []
    assert store.load().devices == {}


async def test_a_device_that_restarts_on_new_ports_can_still_be_offboarded(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways, tmp_path: Path) -> None:
    """The reference stack picks new random ports at every start: the coaps endpoint stored
    at onboarding is then stale, and ``ocfaj offboard`` finds where the device serves now."""
    state_dir = tmp_path / "porch-state"
    lamp, gateway, store, record = await onboarded_porch(ocf_device, gateway_factory,
                                                         state_dir)

    # The device restarts without its saved port: a new random one, like the reference stack.
    await asyncio.to_thread(lamp.stop)
    path = state_dir / "ocf-device-1.json"
    document = json.loads(path.read_text("utf-8"))
    document["coaps_port"] = 0
    path.write_text(json.dumps(document), "utf-8")
    await asyncio.to_thread(lamp.start, {})
    assert saved(state_dir)["owned"] is True

    off = await asyncio.to_thread(ocfaj, gateway, "offboard", str(record.uuid))
    assert off.returncode == 0, (off.stdout, off.stderr, gateway_factory.logs())
    assert "now serves coaps at" in off.stdout, off.stdout
    after = saved(state_dir)
    assert after["owned"] is False and after["dos"] == 1 and after["creds"] == []
    assert store.load().devices == {}
