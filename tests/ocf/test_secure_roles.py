"""Issue 17 point 3: ACEs whose subject is a role, on the gateway's secured virtual devices.

A role is asserted the way OCF allows with symmetric keys: the owner's credential for the
client carries a ``roleid``; a client authenticated with that credential holds the role. The
onboarding tool (``bridge.sim.ocf_obt``) owns the bridge and a virtual device over real DTLS
on loopback and grants a role, not a uuid, access to the lamp: the client with the role reads
and switches; a client without it, and one whose role names another authority, get 4.03 and
nothing reaches the AllJoyn device; the role ACE never covers an SVR; a restart keeps it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.core.identity import IdentityBook
from bridge.core.registry import Registry, SetProperties
from bridge.core.thing import Side, Thing
from bridge.model.types import Catalogue
from bridge.ocf import svr
from bridge.sim.ocf_obt import OnboardingTool, role_ace
from bridge.sim.testing.procs import free_udp_port
from tests.ocf.test_secure_virtual import Client, Gateway, onboard, refused
from tests.ocf.things import RecordingOrigin, alljoyn_lamp

LIGHT_USER = ("oic.role.light-user", "Home onboarding tool")


@pytest.fixture
def lamp(registry: Registry, catalogue: Catalogue) -> tuple[Thing, RecordingOrigin]:
    origin = RecordingOrigin()
    registry.register_handler(Side.ALLJOYN, origin)
    return registry.upsert(alljoyn_lamp(catalogue, IdentityBook())), origin


def test_role_subjects_and_roleids_are_read_and_checked() -> None:
    ace = svr.ace_of({"subject": {"role": "r", "authority": "a"}, "resources": [{"wc": "*"}],
                      "permission": 2}, 1)
    assert ace.role == ("r", "a") and ace.subject is None
    assert ace.to_cbor()["subject"] == {"role": "r", "authority": "a"}
    nested = svr.ace_of({"subject": {"roleid": {"role": "r"}}, "resources": [{"wc": "*"}],
                         "permission": 2}, 2)
    assert nested.role == ("r", "")
    for subject in ({"role": ""}, {"role": 5}, {"role": "r", "authority": 1},
                    {"roleid": "r"}):
        with pytest.raises(svr.SvrRefused) as err:
            svr.ace_of({"subject": subject, "resources": [{"wc": "*"}], "permission": 2}, 3)
        assert err.value.code == 400
    reader = svr.Credential(1, svr.NIL, bytes(16), role=("r", "a"))
    assert reader.to_cbor()["roleid"] == {"role": "r", "authority": "a"}
    assert ace.grants(svr.NIL, True, "/switch", roles=(("r", "a"),))
    assert not ace.grants(svr.NIL, True, "/switch", roles=(("r", "b"),))
    assert not ace.grants(svr.NIL, False, "/switch", roles=(("r", "a"),))
    assert not ace.grants(svr.NIL, True, svr.CRED, roles=(("r", "a"),))


async def test_an_ace_for_a_role_grants_the_clients_holding_it_and_nobody_else(
        registry: Registry, lamp: tuple[Thing, RecordingOrigin], tmp_path: Path) -> None:
    thing, origin = lamp
    gateway = Gateway(registry, tmp_path, free_udp_port("::1"))
    try:
        await gateway.start()
        obt = OnboardingTool()
        _, device = await onboard(gateway, obt, thing)
        await obt.grant(device, [role_ace(LIGHT_USER)])
        holder, stranger, elsewhere = Client(), Client(), Client()
        holder.keys[device.uuid] = await obt.provision(device, holder.uuid, role=LIGHT_USER)
        stranger.keys[device.uuid] = await obt.provision(device, stranger.uuid)
        elsewhere.keys[device.uuid] = await obt.provision(
            device, elsewhere.uuid, role=(LIGHT_USER[0], "Another tool"))
        acl = await obt.read(device, svr.ACL2)
        assert {"role": LIGHT_USER[0], "authority": LIGHT_USER[1]} in [
            ace["subject"] for ace in acl["aclist2"]]
        creds = (await obt.read(device, svr.CRED))["creds"]
        assert next(c for c in creds if c["subjectuuid"] == str(holder.uuid))["roleid"] == {
            "role": LIGHT_USER[0], "authority": LIGHT_USER[1]}

        async def check(restarted: bool) -> None:
            _, secure = gateway.endpoints(thing)
            for refusedclient in (stranger, elsewhere):
                client = refusedclient.ocf()
                await client.start()
                try:
                    commands = len(origin.commands)
                    assert await refused(client, secure, "/switch") == 403
                    assert await refused(client, secure, "/switch", {"value": True}) == 403
                    assert len(origin.commands) == commands  # nothing reached the device
                finally:
                    await client.shutdown()
            client = holder.ocf()
            await client.start()
            try:
                assert "value" in await client.get(secure, "/switch")
                await client.post(secure, "/switch", {"value": not restarted})
                assert origin.commands[-1] == SetProperties("switch", {"on": not restarted})
                assert await refused(client, secure, svr.CRED) == 403  # never an SVR
            finally:
                await client.shutdown()

        await check(False)
        await gateway.stop()
        await gateway.start()
        await check(True)
    finally:
        await gateway.stop()
