"""Issue 20 points 3, 4, 6, 7: the page's API against an in-process gateway over real HTTP:
commands through the registry with its refusals, security headers, Host/Origin/CSRF checks,
login, the page's weight, and the same facts as ``ocfaj devices``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bridge.core.registry import SetProperties
from bridge.daemon.gateway import Gateway
from bridge.model.types import Catalogue
from bridge.web.passwords import make_hash
from bridge.web.security import CSRF_HEADER, HEADERS
from bridge.web.server import PAGE_FILES, STATIC_DIR
from tests.web.gateway_fixture import RecordingOrigin, lamp, started, web_config

PASSWORD = "correct horse battery"


@pytest.fixture
async def open_gateway(tmp_path: Path, catalogue: Catalogue,
                       ) -> AsyncIterator[tuple[Gateway, RecordingOrigin, str]]:
    gateway, origin, url = await started(web_config(tmp_path / "state"), catalogue)
    gateway.registry.upsert(lamp(catalogue))
    yield gateway, origin, url
    await gateway.shutdown()


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url + "api/session") as response:
        token = (await response.json())["csrf"]
    assert isinstance(token, str) and len(token) >= 32
    return token


async def test_a_command_goes_through_the_registry(
        open_gateway: tuple[Gateway, RecordingOrigin, str]) -> None:
    gateway, origin, url = open_gateway
    async with aiohttp.ClientSession() as http:
        token = await csrf_of(http, url)
        async with http.post(url + "api/devices/alljoyn:lamp-0/set", headers={
                CSRF_HEADER: token}, json={"capability": "switch", "values": {"on": True}}) as r:
            assert r.status == 200, await r.text()
    assert origin.commands == [SetProperties("switch", {"on": True})]
    assert gateway.registry.get("alljoyn:lamp-0").capabilities["switch"].state == {"on": True}


@pytest.mark.parametrize(("body", "status", "reason"), [
    ({"capability": "brightness", "values": {"brightness": 150}}, 400, "out_of_range"),
    ({"capability": "brightness", "values": {"brightness": "bright"}}, 400, "wrong_type"),
    ({"capability": "switch", "values": {"colour": 1}}, 400, "unknown_property"),
    ({"capability": "fan", "values": {"on": True}}, 400, "unknown_capability"),
    ({"capability": "switch"}, 400, "wrong_type"),
])
async def test_bad_commands_get_the_registry_refusal_and_reach_nothing(
        open_gateway: tuple[Gateway, RecordingOrigin, str], body: dict[str, object],
        status: int, reason: str) -> None:
    _, origin, url = open_gateway
    async with aiohttp.ClientSession() as http:
        token = await csrf_of(http, url)
        async with http.post(url + "api/devices/alljoyn:lamp-0/set",
                             headers={CSRF_HEADER: token}, json=body) as response:
            assert response.status == status
            answer = await response.json()
    assert answer["error"] == reason and answer["message"]
    assert origin.commands == []


async def test_unknown_and_gone_devices_are_refused(
        open_gateway: tuple[Gateway, RecordingOrigin, str]) -> None:
    gateway, origin, url = open_gateway
    gateway.registry.set_available("alljoyn:lamp-0", False)
    async with aiohttp.ClientSession() as http:
        headers = {CSRF_HEADER: await csrf_of(http, url)}
        command = {"capability": "switch", "values": {"on": True}}
        async with http.post(url + "api/devices/nope/set", headers=headers, json=command) as r:
            assert r.status == 404 and (await r.json())["error"] == "unknown_device"
        async with http.post(url + "api/devices/alljoyn:lamp-0/set", headers=headers,
                             json=command) as r:
            assert r.status == 503 and (await r.json())["error"] == "unavailable"
        # A gone device can be forgotten from the page; a present one cannot.
        async with http.post(url + "api/devices/alljoyn:lamp-0/forget", headers=headers) as r:
            assert r.status == 200
        assert gateway.registry.get("alljoyn:lamp-0") is None
    assert origin.commands == []


async def test_changes_need_the_csrf_token_and_the_same_origin(
        open_gateway: tuple[Gateway, RecordingOrigin, str]) -> None:
    _, origin, url = open_gateway
    command = {"capability": "switch", "values": {"on": True}}
    target = url + "api/devices/alljoyn:lamp-0/set"
    async with aiohttp.ClientSession() as http:
        token = await csrf_of(http, url)
        async with http.post(target, json=command) as response:
            assert response.status == 403 and (await response.json())["error"] == "csrf"
        async with http.post(target, json=command, headers={CSRF_HEADER: "x" * 43}) as r:
            assert r.status == 403
        async with http.post(target, json=command, headers={
                CSRF_HEADER: token, "Origin": "http://evil.example"}) as response:
            assert response.status == 403
            assert (await response.json())["error"] == "cross_origin"
    assert origin.commands == []


async def test_without_password_only_loopback_names_are_answered(
        open_gateway: tuple[Gateway, RecordingOrigin, str]) -> None:
    _, _, url = open_gateway
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "api/devices", headers={"Host": "evil.example"}) as r:
            assert r.status == 421
        async with http.get(url + "api/devices", headers={"Host": "localhost"}) as r:
            assert r.status == 200


async def test_every_response_has_the_security_headers(
        open_gateway: tuple[Gateway, RecordingOrigin, str]) -> None:
    _, _, url = open_gateway
    async with aiohttp.ClientSession() as http:
        for path in ("", "static/app.js", "api/devices", "api/gateway", "static/../x"):
            async with http.get(url + path) as response:
                for name, value in HEADERS.items():
                    assert response.headers.get(name) == value, (path, name)
        async with http.get(url + "api/devices") as response:
            assert response.headers["Cache-Control"] == "no-store"


async def test_the_page_and_ocfaj_devices_share_one_description(
        open_gateway: tuple[Gateway, RecordingOrigin, str]) -> None:
    gateway, _, url = open_gateway
    async with aiohttp.ClientSession() as http, http.get(url + "api/devices") as response:
        rows = await response.json()
    # The control interface that `ocfaj devices` asks is handed the same method.
    assert rows == gateway.describe_devices()
    assert rows[0]["capabilities"]["brightness"]["properties"][0]["maximum"] == 100


async def test_login_when_a_password_is_set(tmp_path: Path, catalogue: Catalogue) -> None:
    line = make_hash(PASSWORD)
    config = web_config(tmp_path / "state", bind="0.0.0.0", password_hash=line)
    gateway, _, url = await started(config, catalogue)
    try:
        # A browser keeps cookies of an address like 127.0.0.1; aiohttp only when told to.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(url + "api/session") as response:
                assert await response.json() == {"auth_required": True, "logged_in": False,
                                                 "csrf": None}
            async with http.get(url + "api/devices") as response:
                assert response.status == 401
            async with http.get(url) as response:
                assert response.status == 200  # the login form itself loads
            async with http.post(url + "api/login", json={"password": "wrong one"}) as r:
                assert r.status == 401 and (await r.json())["error"] == "wrong_password"
            async with http.post(url + "api/login", json={"password": PASSWORD}) as r:
                assert r.status == 200
                token = (await r.json())["csrf"]
                cookie = r.cookies["ocfaj_session"]
                assert cookie["httponly"] and cookie["samesite"] == "Strict"
            async with http.get(url + "api/gateway") as response:
                body = await response.text()
                assert response.status == 200 and line.split("$")[-1] not in body
            async with http.post(url + "api/log-level", json={"level": "warning"}) as r:
                assert r.status == 403  # logged in, but without the CSRF token
            async with http.post(url + "api/log-level", json={"level": "warning"},
                                 headers={CSRF_HEADER: token}) as r:
                assert r.status == 200
            async with http.post(url + "api/logout", headers={CSRF_HEADER: token}) as r:
                assert r.status == 200
            async with http.get(url + "api/devices") as response:
                assert response.status == 401
    finally:
        await gateway.shutdown()


def test_the_page_weighs_under_150_kib() -> None:
    weight = sum((STATIC_DIR / name).stat().st_size for name in PAGE_FILES)
    assert weight < 150 * 1024, weight
    html = (STATIC_DIR / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere


def test_a_gateway_without_the_page_never_imports_its_http_library(tmp_path: Path) -> None:
    code = ("import sys\n"
            "from bridge.daemon import cli, run_command, demo_command, gateway, config\n"
            "g = gateway.Gateway(config.parse_config({}, env={}))\n"
            "g._build_parts(None)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'h11'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True, cwd=tmp_path)
    assert done.stdout.strip() == "[]", done.stdout


def test_missing_extra_is_a_clear_start_up_error(tmp_path: Path) -> None:
    # Python reports a module that is not installed as an ImportError with its name, which
    # is what a None entry in sys.modules produces too.
    code = ("import sys\nsys.modules['h11'] = None\n"
            "from bridge.daemon import config, gateway\n"
            "cfg = config.parse_config({'web': {'enabled': True}}, env={})\n"
            "gateway.web_server(gateway.Gateway(cfg))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False, cwd=tmp_path)
    assert done.returncode != 0
    assert "the web page needs the extra 'web'" in done.stderr
    assert "pip install 'ocfaj[web]'" in done.stderr
