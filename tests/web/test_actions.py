"""Issue 20 point 3, the page's own actions over real HTTP: renaming a device (the MQTT side's
rename, with its rules and refusals, against a real broker), a discovery round on request (a
real OCF device found between two scheduled rounds), and the access policy edited at run
time (in force at once in the registry, stored in the state directory, checked like the
configuration file)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.core.errors import ConfigError
from bridge.core.thing import Side
from bridge.daemon.gateway import Gateway
from bridge.daemon.policy_store import POLICY_FILE
from bridge.model.types import Catalogue
from bridge.mqtt.names import name_problem
from bridge.sim.pytest_plugin import OcfDeviceFactory
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.mosquitto import Mosquitto
from bridge.sim.testing.procs import await_until
from bridge.web.security import CSRF_HEADER
from tests.mqtt.conftest import Recorder
from tests.web.conftest import web_gateway
from tests.web.gateway_fixture import lamp, started, web_config

LAMP = "alljoyn:lamp-0"


async def post(url: str, path: str, body: Any, method: str = "POST") -> tuple[int, Any]:
    """One change with the page's CSRF token; returns the status and the JSON answer."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "api/session") as response:
            token = (await response.json())["csrf"]
        async with http.request(method, url + path, json=body,
                                headers={CSRF_HEADER: token}) as response:
            return response.status, await response.json()


async def get(url: str, path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url + path) as response:
        assert response.status == 200, await response.text()
        return await response.json()


@pytest.fixture
async def mqtt_gateway(tmp_path: Path, catalogue: Catalogue, mosquitto: Mosquitto,
                       ) -> AsyncIterator[tuple[Gateway, str]]:
    config = web_config(tmp_path / "state", mqtt={
        "enabled": True, "host": mosquitto.host, "port": mosquitto.port,
        "reconnect_max_delay": 0.5})
    gateway, _, url = await started(config, catalogue)
    gateway.registry.upsert(lamp(catalogue, 0))
    gateway.registry.upsert(lamp(catalogue, 1))
    await await_until(lambda: gateway.describe_gateway()["parts"]["mqtt"]["connected"], 30,
                      message="the gateway connected to the broker")
    yield gateway, url
    await gateway.shutdown()


@pytest.mark.parametrize("name", ["a/b", "bridge", "x" * 101, "lamp\ud800", "", "+"])
async def test_rename_refuses_what_the_mqtt_rename_refuses(
        mqtt_gateway: tuple[Gateway, str], name: str) -> None:
    gateway, url = mqtt_gateway
    before = gateway.describe_device(LAMP)
    assert before is not None and before["mqtt_topic"] == "ocfaj/lamp_0"
    status, answer = await post(url, f"api/devices/{LAMP}/rename", {"name": name})
    assert status == 400, answer
    # The very words bridge/request/rename answers with on MQTT.
    assert answer == {"error": "invalid_name", "message": name_problem(name)}
    assert gateway.describe_device(LAMP) == before


async def test_rename_moves_the_topics_and_is_kept(
        mqtt_gateway: tuple[Gateway, str], mosquitto: Mosquitto) -> None:
    gateway, url = mqtt_gateway
    recorder = await Recorder(mosquitto.host, mosquitto.port).start()
    try:
        await renamed_on_the_broker(gateway, url, recorder)
    finally:
        await recorder.stop()


async def renamed_on_the_broker(gateway: Gateway, url: str, recorder: Recorder) -> None:
    await recorder.wait_for(lambda: recorder.last("ocfaj/lamp_0") is not None,
                            message="the lamp's state on its first topic")

    status, answer = await post(url, f"api/devices/{LAMP}/rename", {"name": "lamp_1"})
    assert status == 400 and answer["error"] == "invalid_name"
    assert answer["message"] == "'lamp_1' is already the name of alljoyn:lamp-1"

    status, answer = await post(url, f"api/devices/{LAMP}/rename", {"name": "Hall light"})
    assert status == 200, answer
    assert (answer["from"], answer["to"]) == ("lamp_0", "Hall light")
    assert answer["device"]["mqtt_topic"] == "ocfaj/Hall light"
    await recorder.wait_last("ocfaj/Hall light", {"switch": {"on": False},
                                                  "brightness": {"brightness": 10}})
    # The old retained state is cleared, and the name is in the identity book.
    await recorder.wait_for(lambda: (last := recorder.last("ocfaj/lamp_0")) is not None
                            and last.payload == b"", message="old topic cleared")
    assert gateway.book.friendly_name(LAMP, "Lamp 0") == "Hall light"
    # The list shows the new topic too (the same description as `ocfaj devices`).
    rows = await get(url, "api/devices")
    assert next(r for r in rows if r["id"] == LAMP)["mqtt_topic"] == "ocfaj/Hall light"


async def test_rename_without_mqtt_or_device_is_refused(tmp_path: Path,
                                                        catalogue: Catalogue) -> None:
    gateway, _, url = await started(web_config(tmp_path / "state"), catalogue)
    try:
        gateway.registry.upsert(lamp(catalogue))
        status, answer = await post(url, f"api/devices/{LAMP}/rename", {"name": "hall"})
        assert status == 400 and "MQTT side is not enabled" in answer["message"]
        status, answer = await post(url, "api/devices/nope/rename", {"name": "hall"})
        assert status == 404 and answer["error"] == "unknown_device"
        status, answer = await post(url, f"api/devices/{LAMP}/rename", {"to": "hall"})
        assert status == 400 and answer["error"] == "wrong_type"
        # Without an origin side there is nothing to discover with: a clear refusal.
        status, answer = await post(url, "api/discover", {})
        assert status == 400 and "no origin side is running" in answer["message"]
    finally:
        await gateway.shutdown()


async def test_discover_now_finds_a_device_between_rounds(
        ocf_device: OcfDeviceFactory, gateway_factory: TestGateways) -> None:
    _, url = web_gateway(gateway_factory, ocf={"discovery_interval": 3600})

    async def rounds() -> int:
        return int((await get(url, "api/gateway"))["parts"]["ocf"]["discovery_rounds"])

    async def first_round_over() -> bool:
        return await rounds() >= 1

    # Once the first round is over, the next one is an hour away.
    await await_until(first_round_over, 30, message="the first OCF discovery round")
    ocf_device("light", "Late lamp")
    rows = await get(url, "api/devices")
    assert not any(r["name"] == "Late lamp" for r in rows)

    status, answer = await post(url, "api/discover", {})
    assert status == 200, answer
    assert answer["sides"] == {"ocf": "done", "alljoyn": "done"}
    assert answer["new"] >= 1 and await rounds() == 2
    rows = await get(url, "api/devices")
    assert any(r["name"] == "Late lamp" and r["origin"] == "ocf" for r in rows), rows


async def test_the_policy_is_edited_at_run_time_and_kept(tmp_path: Path,
                                                        catalogue: Catalogue) -> None:
    state = tmp_path / "state"
    gateway, origin, url = await started(web_config(state), catalogue)
    try:
        thing = gateway.registry.upsert(lamp(catalogue))
        assert await get(url, "api/policy") == {"default": "allow", "rules": [],
                                                "stored": False, "file": ""}
        # Checked as [policy] of the configuration file is: nothing changes on a refusal.
        for bad, key in ((({"default": "maybe"}), "policy.default"),
                         ({"rules": [{"action": "allow", "idx": "x"}]}, "policy.rules[0].idx"),
                         ({"rules": [{"side": "ocf"}]}, "policy.rules[0].action")):
            status, answer = await post(url, "api/policy", bad, method="PUT")
            assert status == 400 and answer["error"] == "invalid_config", answer
            assert answer["message"].startswith(key), answer
        assert not (state / POLICY_FILE).exists()

        rules = [{"action": "read_only", "side": "control", "id": "alljoyn:lamp-*"}]
        status, answer = await post(url, "api/policy", {"default": "allow", "rules": rules},
                                    method="PUT")
        assert status == 400 and answer["message"].startswith("policy.rules[0].side")
        rules = [{"action": "deny", "side": "mqtt", "id": "alljoyn:lamp-*"},
                 {"action": "read_only", "name": "Lamp*"}]
        status, answer = await post(url, "api/policy", {"default": "allow", "rules": rules},
                                    method="PUT")
        assert status == 200, answer
        assert answer["persisted"] and answer["stored"] and answer["changed"] == 1
        assert not gateway.registry.exposable(thing, Side.MQTT)
        assert gateway.registry.exposable(thing, Side.OCF)
        # A command from the page now meets the new policy in the registry.
        status, answer = await post(url, f"api/devices/{LAMP}/set",
                                    {"capability": "switch", "values": {"on": True}})
        assert status == 403 and answer["error"] == "not_allowed"
        assert origin.commands == []
        assert json.loads((state / POLICY_FILE).read_text()) == {"default": "allow",
                                                                  "rules": rules}
    finally:
        await gateway.shutdown()

    # The next start uses the stored policy instead of [policy] of the configuration.
    again, _, url = await started(web_config(state), catalogue)
    try:
        again.registry.upsert(lamp(catalogue))
        policy = await get(url, "api/policy")
        assert policy["rules"] == rules and policy["stored"]
        status, _ = await post(url, f"api/devices/{LAMP}/set",
                               {"capability": "switch", "values": {"on": True}})
        assert status == 403
    finally:
        await again.shutdown()

    # A stored policy that no longer passes the rules stops the start: never a wider one.
    (state / POLICY_FILE).write_text('{"default": "everything"}')
    broken = Gateway(web_config(state), catalogue)
    with pytest.raises(ConfigError, match="stored policy"):
        await broken.start()
    await broken.shutdown()
