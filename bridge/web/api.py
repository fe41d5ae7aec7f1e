"""The page's JSON API: devices, the gateway's state, commands, login.

Layer: ``bridge.web``. Reads come from the daemon's descriptions (:class:`GatewayFacts`);
every change goes through :meth:`Registry.command` (source ``control``, the side of the
gateway's own clients) with the registry's validation, so a bad value gets the same refusal
as on OCF, AllJoyn or MQTT, in this page's form (:func:`bridge.web.facts.error_body`), and
nothing reaches the device.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from bridge import __version__
from bridge.core.errors import BridgeError, UnknownCapability, WrongType
from bridge.core.registry import Registry, SetProperties
from bridge.core.thing import Side
from bridge.web.config import WebConfig
from bridge.web.facts import GatewayFacts, error_body, error_status
from bridge.web.http import Handler, Request, Response, json_response
from bridge.web.logbuffer import LEVELS, RecentLog
from bridge.web.passwords import verify
from bridge.web.security import COOKIE
from bridge.web.sessions import Sessions

log = logging.getLogger("ocfaj.web")

#: Largest request body accepted (a command is a few hundred bytes).
MAX_BODY = 16 * 1024
#: Seconds a wrong password holds the login: at most one guess a second.
LOGIN_PENALTY = 1.0


def _failure(err: BridgeError) -> Response:
    return json_response(error_body(err), status=error_status(err))


async def _json_object(request: Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise WrongType(f"request body over {MAX_BODY} bytes")
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError) as err:
        raise WrongType(f"the request body is not JSON: {err}") from err
    if not isinstance(body, dict):
        raise WrongType("expected a JSON object")
    return body


#: Rows encoded into one chunk of the device list.
ROWS_PER_CHUNK = 50


async def _json_rows(rows: Iterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """``rows`` as one JSON array, :data:`ROWS_PER_CHUNK` rows per chunk: only one chunk's
    rows and text are in memory at a time."""
    opening = "["
    while True:
        batch = list(itertools.islice(rows, ROWS_PER_CHUNK))
        if not batch:
            break
        yield (opening + json.dumps(batch)[1:-1]).encode()
        opening = ", "
    yield b"[]" if opening == "[" else b"]"


class Api:
    """Route handlers; constructed by :class:`bridge.web.server.WebServer`."""

    def __init__(self, config: WebConfig, registry: Registry, facts: GatewayFacts,
                 sessions: Sessions, recent: RecentLog) -> None:
        self.config = config
        self.registry = registry
        self.facts = facts
        self.sessions = sessions
        self.recent = recent
        self._login_lock = asyncio.Lock()

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/api/session", self.session),
            ("POST", "/api/login", self.login),
            ("POST", "/api/logout", self.logout),
            ("GET", "/api/devices", self.devices),
            ("GET", "/api/devices/{id}", self.device),
            ("POST", "/api/devices/{id}/set", self.set_values),
            ("POST", "/api/devices/{id}/refresh", self.refresh),
            ("POST", "/api/devices/{id}/forget", self.forget),
            ("POST", "/api/devices/{id}/rename", self.rename),
            ("POST", "/api/discover", self.discover),
            ("GET", "/api/policy", self.policy),
            ("PUT", "/api/policy", self.set_policy),
            ("GET", "/api/gateway", self.gateway),
            ("POST", "/api/log-level", self.log_level),
        ]

    # -- session -----------------------------------------------------------------------------

    async def session(self, request: Request) -> Response:
        session = self.sessions.find(request.cookies.get(COOKIE))
        if self.config.auth_required:
            return json_response({"auth_required": True, "logged_in": session is not None,
                                      "csrf": session.csrf if session else None})
        return json_response({"auth_required": False, "logged_in": True,
                                  "csrf": self.sessions.open_csrf})

    async def login(self, request: Request) -> Response:
        if not self.config.auth_required:
            return json_response({"logged_in": True, "csrf": self.sessions.open_csrf})
        try:
            body = await _json_object(request)
        except BridgeError as err:
            return _failure(err)
        password = body.get("password")
        if not isinstance(password, str):
            return json_response({"error": "wrong_type", "message": "password missing"},
                                     status=400)
        async with self._login_lock:
            ok = await asyncio.to_thread(verify, password, self.config.password_hash)
            if not ok:
                log.warning("web: wrong password from %s", request.remote)
                await asyncio.sleep(LOGIN_PENALTY)
                return json_response({"error": "wrong_password",
                                          "message": "wrong password"}, status=401)
        token, session = self.sessions.login()
        log.info("web: login from %s", request.remote)
        response = json_response({"logged_in": True, "csrf": session.csrf})
        response.set_cookie(COOKIE, token, max_age=int(self.config.session_lifetime),
                            secure=request.secure)
        return response

    async def logout(self, request: Request) -> Response:
        self.sessions.logout(request.cookies.get(COOKIE))
        response = json_response({"logged_in": False})
        response.del_cookie(COOKIE, path="/")
        return response

    # -- reads -------------------------------------------------------------------------------

    async def devices(self, request: Request) -> Response:
        """The whole list, encoded and sent a few rows at a time: 1,000 devices never sit in
        memory as one JSON text."""
        return Response(headers={"Content-Type": "application/json; charset=utf-8"},
                        stream=_json_rows(self.facts.iter_devices()))

    async def device(self, request: Request) -> Response:
        row = self.facts.describe_device(request.match_info["id"])
        if row is None:
            return json_response({"error": "unknown_device", "message": "no such device"},
                                     status=404)
        return json_response(row)

    async def gateway(self, request: Request) -> Response:
        level = request.query.get("log_level", "info")
        if level not in LEVELS:
            return json_response({"error": "wrong_type", "message":
                                      f"log_level: one of {', '.join(LEVELS)}"}, status=400)
        state = self.facts.describe_gateway()
        state["version"] = __version__
        state["log"] = self.recent.lines(level)
        state["log_level"] = logging.getLevelName(
            logging.getLogger("ocfaj").getEffectiveLevel()).lower()
        return json_response(state)

    # -- changes -----------------------------------------------------------------------------

    async def set_values(self, request: Request) -> Response:
        thing_id = request.match_info["id"]
        try:
            body = await _json_object(request)
            capability, values = body.get("capability"), body.get("values")
            if not isinstance(capability, str):
                raise UnknownCapability("capability missing", thing=thing_id)
            if not isinstance(values, dict):
                raise WrongType("values: expected an object of property: value",
                                thing=thing_id, capability=capability)
            answer = await self.registry.command(thing_id, SetProperties(capability, values),
                                                 Side.CONTROL)
        except BridgeError as err:
            return _failure(err)
        log.info("web: %s.%s set to %s from %s", thing_id, capability, values, request.remote)
        return json_response({"ok": True, "values": answer})

    async def refresh(self, request: Request) -> Response:
        thing_id = request.match_info["id"]
        row = self.facts.describe_device(thing_id)
        if row is None:
            return json_response({"error": "unknown_device", "message": "no such device"},
                                     status=404)
        try:
            for capability in row["capabilities"]:
                await self.registry.refresh(thing_id, capability)
        except BridgeError as err:
            return _failure(err)
        return json_response({"ok": True})

    async def forget(self, request: Request) -> Response:
        try:
            self.facts.forget(request.match_info["id"])
        except BridgeError as err:
            return _failure(err)
        return json_response({"ok": True})

    async def rename(self, request: Request) -> Response:
        thing_id = request.match_info["id"]
        try:
            body = await _json_object(request)
            name = body.get("name")
            if not isinstance(name, str):
                raise WrongType('rename needs {"name": <new friendly name>}', thing=thing_id)
            answer = self.facts.rename(thing_id, name)
        except BridgeError as err:
            return _failure(err)
        log.info("web: %s renamed from %s to %s from %s", thing_id, answer["from"],
                 answer["to"], request.remote)
        row = self.facts.describe_device(thing_id)
        return json_response({"ok": True, **answer, "device": row})

    async def discover(self, request: Request) -> Response:
        log.info("web: discovery requested from %s", request.remote)
        try:
            answer = await self.facts.discover()
        except BridgeError as err:
            return _failure(err)
        return json_response({"ok": True, **answer})

    async def policy(self, request: Request) -> Response:
        return json_response(self.facts.describe_policy())

    async def set_policy(self, request: Request) -> Response:
        try:
            body = await _json_object(request)
            answer = self.facts.set_policy(body)
        except BridgeError as err:
            return _failure(err)
        log.warning("web: access policy changed from %s", request.remote)
        return json_response({"ok": True, **answer})

    async def log_level(self, request: Request) -> Response:
        try:
            body = await _json_object(request)
        except BridgeError as err:
            return _failure(err)
        level = body.get("level")
        if level not in LEVELS:
            return json_response({"error": "wrong_type", "message":
                                      f"level: one of {', '.join(LEVELS)}"}, status=400)
        self.facts.set_log_level(str(level))
        log.warning("web: log level set to %s from %s", level, request.remote)
        return json_response({"ok": True, "level": level})
