"""An in-process gateway with no protocol side, serving the web page on a free port.

Its registry is filled by the test itself with Things built from the shipped models, as an
origin side would; a command that passes the registry's checks reaches the origin's
:class:`CommandHandler`, which this module's :class:`RecordingOrigin` implements by keeping
what it was asked (the protocol sides are tested against real devices in tests/web's browser
tests and their own suites).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bridge.core.registry import Command, CommandHandler, SetProperties
from bridge.core.thing import Capability, DeviceInfo, Identity, Side, Thing
from bridge.daemon.config import Config, parse_config
from bridge.daemon.gateway import Gateway
from bridge.model.types import Catalogue, Value


class RecordingOrigin(CommandHandler):
    """An origin side that applies every write it gets and remembers it."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    async def execute(self, thing: Thing, command: Command) -> Mapping[str, Value]:
        self.commands.append(command)
        return dict(command.values) if isinstance(command, SetProperties) else {}

    async def refresh(self, thing: Thing, capability: str) -> Mapping[str, Value]:
        return dict(thing.capabilities[capability].state)


def web_config(state_dir: Path, password_hash: str = "", mqtt: dict[str, Any] | None = None,
               **web: Any) -> Config:
    """``mqtt``: the ``[mqtt]`` section when the test runs the MQTT side (off otherwise)."""
    env = {"OCFAJ_WEB_PASSWORD_HASH": password_hash} if password_hash else {}
    return parse_config({"gateway": {"name": "gw", "state_dir": str(state_dir)},
                         "ocf": {"enabled": False}, "alljoyn": {"enabled": False},
                         "mqtt": mqtt or {"enabled": False},
                         "web": {"enabled": True, "port": 0, **web}}, env=env)


def lamp(catalogue: Catalogue, number: int = 0) -> Thing:
    switch, brightness = catalogue.capability("switch"), catalogue.capability("brightness")
    assert switch is not None and brightness is not None
    return Thing(f"alljoyn:lamp-{number}", Side.ALLJOYN,
                 Identity(di=f"di-{number}", app_id=bytes([number % 256]) * 16,
                          device_id=f"dev-{number}"),
                 DeviceInfo(f"Lamp {number}", device_types=("oic.d.light",)),
                 {"switch": Capability("switch", "/switch", model=switch, state={"on": False}),
                  "brightness": Capability("brightness", "/light", model=brightness,
                                           state={"brightness": 10})})


async def started(config: Config, catalogue: Catalogue) -> tuple[Gateway, RecordingOrigin, str]:
    gateway = Gateway(config, catalogue)
    origin = RecordingOrigin()
    gateway.registry.register_handler(Side.ALLJOYN, origin)
    await gateway.start()
    url = gateway.describe_gateway()["parts"]["web"]["url"]
    assert url, "the web part did not start"
    return gateway, origin, url
