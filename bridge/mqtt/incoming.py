"""Incoming messages: device commands, gateway requests and Home Assistant's birth message.

Layer: ``bridge.mqtt`` (no MQTT client: messages arrive as topic + payload, answers leave
through ``emit``). Device commands are validated completely by the registry before the first
one reaches a device: a payload with one bad value changes nothing. Every command and request
is answered on ``<base>/bridge/response/<command>`` (``set`` for ``/set`` and ``/light/set``,
``get`` for ``/get``) with ``{status, data, error, transaction}``; refusals are also logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from bridge.core.errors import CommandError, DeviceError, UnknownThing, WrongType
from bridge.core.registry import Command, InvokeMethod, Registry
from bridge.core.thing import Side, Thing
from bridge.mqtt import payloads
from bridge.mqtt.commands import decode, get_capabilities, set_commands
from bridge.mqtt.light import light_commands
from bridge.mqtt.log_level import set_log_level
from bridge.mqtt.mirror import Emit, Mirror
from bridge.mqtt.names import RenameRefused
from bridge.mqtt.outbox import Message
from bridge.mqtt.topics import BridgeRequest, DeviceCommand, HomeAssistantStatus, Topics

log = logging.getLogger("ocfaj.mqtt")

Health = Callable[[], dict[str, Any]]


class RequestFailed(Exception):
    """A gateway request that cannot be answered with data; the message says why."""


class Incoming:
    """Handles one incoming message at a time (the side runs each in its own task)."""

    def __init__(self, registry: Registry, topics: Topics, mirror: Mirror, emit: Emit,
                 health: Health) -> None:
        self.registry = registry
        self.topics = topics
        self.mirror = mirror
        self._emit = emit
        self._health = health

    async def handle(self, topic: str, payload: bytes, retained: bool) -> None:
        target = self.topics.parse(topic)
        if target is None:
            return
        if isinstance(target, HomeAssistantStatus):
            if payload.strip().lower() == b"online":
                log.info("Home Assistant is online: sending discovery again")
                self.mirror.publish_all_discovery()
            return
        if retained:
            # A retained command would be carried out again at every reconnect.
            log.warning("ignored a retained message on %s: commands must not be retained", topic)
            return
        if isinstance(target, BridgeRequest):
            await self._request(target.command, payload)
        else:
            await self._device(target, payload)

    def _respond(self, command: str, data: Mapping[str, Any] | None, error: str | None,
                 transaction: Any) -> None:
        self._emit(Message(self.topics.response(command), payloads.encode(
            payloads.response(data, error=error, transaction=transaction)), qos=1))

    # -- device commands -----------------------------------------------------------------------

    async def _device(self, target: DeviceCommand, payload: bytes) -> None:
        answer_on = "get" if target.verb == "get" else "set"
        transaction: Any = None
        data: dict[str, Any] = {"device": target.name}
        try:
            document = decode(payload)
            if isinstance(document, dict):
                transaction = document.pop("transaction", None)
            thing = self.mirror.thing_named(target.name)
            if thing is None:
                raise UnknownThing(f"no device named {target.name!r} on MQTT",
                                   thing=target.name)
            if target.verb == "get":
                data["state"] = await self._refresh(thing, get_capabilities(thing, document))
            else:
                data["state"] = await self._execute(thing, self._commands(thing, target,
                                                                          document))
        except CommandError as err:
            log.warning("refused MQTT %s for %s: %s", target.verb, target.name, err.message)
            data.update(reason=err.reason, capability=err.capability or None,
                        property=err.prop or None)
            self._respond(answer_on, data, err.message, transaction)
            return
        except DeviceError as err:
            log.warning("MQTT %s for %s failed on the device: %s %s", target.verb, target.name,
                        err.code, err.message)
            data.update(reason="device_error", code=err.code)
            self._respond(answer_on, data, err.message, transaction)
            return
        self._respond(answer_on, data, None, transaction)

    def _commands(self, thing: Thing, target: DeviceCommand, document: Any) -> list[Command]:
        if target.verb == "set":
            return set_commands(thing, document)
        parts = self.mirror.light_of(thing.id)
        if parts is None:
            raise UnknownThing(f"{target.name} is not a light", thing=thing.id)
        if not isinstance(document, Mapping):
            raise WrongType(f"a light command is a JSON object, got {document!r}",
                            thing=thing.id)
        return list(light_commands(thing, parts, document))

    async def _execute(self, thing: Thing, commands: list[Command]) -> dict[str, Any]:
        # Check everything first: one bad value must keep every other write from the device.
        checked = [self.registry.check(thing.id, command, Side.MQTT)[1] for command in commands]
        results: dict[str, Any] = {}
        for command in checked:
            answer = await self.registry.command(thing.id, command, Side.MQTT)
            entry = results.setdefault(command.capability, {})
            if isinstance(command, InvokeMethod):
                entry[command.method] = payloads.json_value(answer)
            else:
                entry.update(payloads.json_value(answer))
        return results

    async def _refresh(self, thing: Thing, keys: list[str]) -> dict[str, Any]:
        for key in keys:
            await self.registry.refresh(thing.id, key)
        self.mirror.publish_state(thing)
        return payloads.state(thing, self.mirror.visible)

    # -- gateway requests ----------------------------------------------------------------------

    async def _request(self, command: str, payload: bytes) -> None:
        transaction: Any = None
        try:
            document = decode(payload)
            if isinstance(document, dict):
                transaction = document.get("transaction")
            elif document is not None:
                document = {"value": document}
            data = await self._answer(command, document or {})
        except (RequestFailed, RenameRefused, CommandError, DeviceError) as err:
            message = err.message if isinstance(err, CommandError | DeviceError) else str(err)
            log.warning("MQTT request %s failed: %s", command, message)
            self._respond(command, {}, message, transaction)
            return
        self._respond(command, data, None, transaction)

    async def _answer(self, command: str, document: dict[str, Any]) -> dict[str, Any]:
        if command == "devices":
            return {"devices": self.mirror.devices()}
        if command == "info":
            return dict(self.mirror.info)
        if command == "health_check":
            return self._health()
        if command == "rename":
            old_name, new = document.get("from"), document.get("to")
            thing = self._thing(old_name)
            if not isinstance(new, str):
                raise RequestFailed('rename needs {"from": <name or id>, "to": <new name>}')
            old = self.mirror.rename(thing, new)
            return {"id": thing.id, "from": old, "to": new}
        if command == "refresh":
            thing = self._thing(document.get("device"))
            name = self.mirror.exposed[thing.id]
            return {"device": name, "state": await self._refresh(thing, list(thing.capabilities))}
        if command == "refresh_discovery":
            log.info("discovery requested on MQTT: sending it again")
            self.mirror.publish_all_discovery()
            return {"devices": len(self.mirror.exposed)}
        if command == "log_level":
            try:
                level = set_log_level(document.get("value"))
            except ValueError as err:
                raise RequestFailed(str(err)) from None
            log.warning("log level set to %s on MQTT request (until the next start)", level)
            self.mirror.set_info("log_level", level)
            return {"value": level}
        raise RequestFailed(f"unknown request {command!r}: known are devices, info, "
                            "health_check, rename, refresh, refresh_discovery, log_level")

    def _thing(self, name_or_id: Any) -> Thing:
        if not isinstance(name_or_id, str):
            raise RequestFailed("name the device by friendly name or id")
        thing = self.mirror.thing_named(name_or_id)
        if thing is None:
            raise RequestFailed(f"no device {name_or_id!r} on MQTT")
        return thing
