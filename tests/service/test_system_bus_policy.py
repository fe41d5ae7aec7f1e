"""The installed gateway on a system bus with exactly the shipped D-Bus policy (issue 14 points
1 and 3, issue 15 point 10).

The gateway runs as the service user ``ocfaj`` under a non-default name (``livingroom``) with
its configuration installed as docs/install.md says: the main file mode 0640 group ``ocfaj``,
the MQTT secrets file mode 0600 owned by ``ocfaj``. Then:

- it owns ``org.ocfaj.Gateway.livingroom`` and its producers' ``org.ocfaj.Virtual.*`` names;
- a member of the group ``ocfaj`` runs ``ocfaj devices`` (which must not read the secrets
  file) and calls the control interface and the virtual producers' methods and properties;
- an ordinary user outside the group can still discover the virtual producers (About,
  Introspect) but every other call is refused by the bus with AccessDenied, and
  ``ocfaj devices`` says so in one line instead of dying on the unreadable configuration.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.sim.processes import GatewayProcess, SimProcess
from bridge.sim.testing.procs import free_udp_port, wait_for
from tests.service.system_bus import (
    Account,
    Accounts,
    as_user,
    popen_as,
    shared_directory,
    system_like_bus,
    unix_accounts,
)

ROOT = Path(__file__).resolve().parents[2]
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
BRIGHTNESS = "org.alljoyn.SmartSpaces.Operation.Brightness"
PROPERTIES = "org.freedesktop.DBus.Properties"


@dataclass
class Rig:
    accounts: Accounts
    bus: str
    config: Path
    gateway: GatewayProcess
    lamp: SimProcess
    home: Path

    def run_as(self, account: Account | None, *args: str,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``python -m <args>`` as ``account`` (``None``: root), with a clean environment."""
        command = [sys.executable, "-m", *args]
        full = {"PATH": os.environ["PATH"], "HOME": str(self.home), "LANG": "C.UTF-8",
                **(env or {})}
        options: dict[str, Any] = {}
        if account is not None:
            command, full = as_user(account, command, full)
            options = account.popen_options()
        return subprocess.run(command, capture_output=True, text=True, env=full, cwd=ROOT,
                              timeout=60, check=False, **options)

    def call(self, account: Account | None, dest: str, path: str, interface: str,
             member: str, signature: str = "", body: list[Any] | None = None) -> dict[str, Any]:
        done = self.run_as(account, "tests.service.bus_client", self.bus, dest, path,
                           interface, member, signature, json.dumps(body or []))
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def names(self) -> list[str]:
        reply = self.call(None, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "ListNames")
        return [str(name) for name in reply["body"][0]]

    def virtual_name(self) -> str:
        return next(n for n in self.names() if n.startswith("org.ocfaj.Virtual."))

    def devices(self, account: Account, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run_as(account, "bridge", "devices", *extra,
                           env={"OCFAJ_CONFIG": str(self.config)})


def install_like_install_md(config: Path, secrets: Path, service: Account) -> None:
    """Owners and modes of docs/install.md step 3."""
    os.chown(config, 0, service.gid)
    config.chmod(0o640)
    os.chown(secrets, service.uid, service.gid)
    secrets.chmod(0o600)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    with unix_accounts() as accounts, shared_directory() as shared, \
            system_like_bus(shared) as bus:
        etc = shared / "etc"
        etc.mkdir(mode=0o755)
        state = shared / "state"
        state.mkdir(mode=0o700)
        os.chown(state, accounts.service.uid, accounts.service.gid)
        secrets = etc / "mqtt-secrets.toml"
        secrets.write_text('username = "livingroom"\n')
        port = free_udp_port()
        lamp = SimProcess(["ocf", "--model", "light", "--name", "Lamp", "--unicast-only",
                           "--bind", "127.0.0.1", "--device-port", str(port)],
                          log_path=shared / "lamp.log")
        config_text = (
            f'[gateway]\nname = "livingroom"\nstate_dir = "{state}"\n'
            f'[ocf]\ninterfaces = ["lo"]\nipv6 = false\nvirtual_bind = "127.0.0.1"\n'
            f'server_port = {free_udp_port()}\nunicast_peers = ["coap://127.0.0.1:{port}"]\n'
            f'discovery_interval = 1.0\n'
            f'[alljoyn]\nbus = "{bus}"\n'
            f'[mqtt]\nenabled = false\nsecrets_file = "{secrets.name}"\n')
        gateway = GatewayProcess(config_text, etc, popen=popen_as(accounts.service))
        install_like_install_md(gateway.config_path, secrets, accounts.service)
        rig = Rig(accounts, bus, gateway.config_path, gateway, lamp, shared)
        try:
            lamp.start()
            gateway.start(30.0)
            wait_for(lambda: any(n.startswith("org.ocfaj.Virtual.") for n in rig.names()), 30,
                     message=f"a virtual producer on the bus:\n{gateway.log()}")
            yield rig
        finally:
            gateway.stop()
            lamp.stop()


def test_the_service_user_owns_the_gateway_names(rig: Rig) -> None:
    names = rig.names()
    assert "org.ocfaj.Gateway.livingroom" in names, rig.gateway.log()
    assert "security policies" not in rig.gateway.log()
    assert rig.gateway.process is not None and rig.gateway.process.poll() is None


def test_a_member_of_the_group_lists_the_devices(rig: Rig) -> None:
    # The member may read config.toml (group ocfaj) but not the 0600 secrets file, which
    # `ocfaj devices` therefore must not read.
    done = rig.devices(rig.accounts.member, "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert "Lamp" in {row["name"] for row in rows}
    table = rig.devices(rig.accounts.member)
    assert table.returncode == 0, table.stderr
    assert any(" Lamp " in line for line in table.stdout.splitlines())


def test_an_outsider_gets_one_clear_line_from_ocfaj_devices(rig: Rig) -> None:
    done = rig.devices(rig.accounts.outsider, "--bus", rig.bus)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "org.ocfaj.Gateway.livingroom" in lines[0]
    assert ACCESS_DENIED in lines[0]
    assert "members of the group ocfaj" in lines[0]
    assert "Permission denied" not in done.stderr


def test_the_control_interface_is_for_root_and_the_group_only(rig: Rig) -> None:
    args = ("org.ocfaj.Gateway.livingroom", "/org/ocfaj/Gateway", "org.ocfaj.Gateway1",
            "ListDevices")
    refused = rig.call(rig.accounts.outsider, *args)
    assert refused.get("error") == ACCESS_DENIED, refused
    for account in (rig.accounts.member, None):
        answered = rig.call(account, *args)
        assert "Lamp" in {row["name"] for row in json.loads(answered["body"][0])}, answered


def test_virtual_producers_are_discoverable_by_all_and_switched_by_the_group(rig: Rig) -> None:
    name = rig.virtual_name()
    outsider, member = rig.accounts.outsider, rig.accounts.member
    about = rig.call(outsider, name, "/About", "org.alljoyn.About", "GetAboutData", "s", [""])
    assert about["body"][0]["AppName"] == "Lamp", about
    objects = rig.call(outsider, name, "/About", "org.alljoyn.About", "GetObjectDescription")
    path = next(p for p, ifaces in objects["body"][0] if BRIGHTNESS in ifaces)
    introspected = rig.call(outsider, name, path, "org.freedesktop.DBus.Introspectable",
                            "Introspect")
    assert BRIGHTNESS in introspected["body"][0]

    set_args = ("ssv", [BRIGHTNESS, "Brightness", ["d", 0.25]])
    for member_name, signature, body in (("Get", "ss", [BRIGHTNESS, "Brightness"]),
                                         ("GetAll", "s", [BRIGHTNESS]),
                                         ("Set", *set_args)):
        refused = rig.call(outsider, name, path, PROPERTIES, member_name, signature, body)
        assert refused.get("error") == ACCESS_DENIED, (member_name, refused)
    assert rig.lamp.received("Lamp") == []

    done = rig.call(member, name, path, PROPERTIES, "Set", *set_args)
    assert "error" not in done, done
    write = rig.lamp.wait_received("Lamp", "brightness", within=20)
    assert write["values"] == {"brightness": 25}
    value = rig.call(member, name, path, PROPERTIES, "Get", "ss", [BRIGHTNESS, "Brightness"])
    assert value["body"][0] == pytest.approx(0.25)
