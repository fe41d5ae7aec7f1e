"""Issue 20 point 5: the web page in a real browser (headless chromium) against ``ocfaj run``
with simulated devices: the list appears, values change live, a click switches a light, a bad
value shows the gateway's refusal, off loopback the page asks for the password, and the
page's own actions: rename, a discovery round, the access policy."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from playwright.async_api import Locator, Page, expect

from bridge.sim.pytest_plugin import DeviceFactory
from bridge.sim.testing.gateways import TestGateways
from bridge.sim.testing.mosquitto import Mosquitto
from bridge.web.passwords import make_hash
from tests.e2e.conftest import LIGHT, THERMOSTAT
from tests.web.conftest import SHOWS_WITHIN, screenshot, web_gateway


def row(page: Page, name: str) -> Locator:
    return page.locator("#device-rows tr", has=page.locator("td.name", has_text=name))


async def test_device_list_appears_and_follows_a_device_live(
        page: Page, alljoyn_device: DeviceFactory, gateway_factory: TestGateways) -> None:
    lamp = alljoyn_device(LIGHT, "Lamp", brightness={"brightness": 10})
    alljoyn_device(THERMOSTAT, "Thermo")
    _, url = web_gateway(gateway_factory)
    await page.goto(url)

    lamp_row = row(page, "Lamp")
    await expect(lamp_row).to_have_count(1, timeout=SHOWS_WITHIN)
    await expect(row(page, "Thermo")).to_have_count(1, timeout=SHOWS_WITHIN)
    await expect(page.locator("#live")).to_have_text("live")
    await expect(lamp_row.locator("[data-state]")).to_have_text("up")
    await expect(lamp_row.locator('[data-value="switch.on"]')).to_have_text("off")
    await expect(lamp_row.locator('[data-value="brightness.brightness"]')).to_have_text("10 %")
    await screenshot(page, "devices")

    # The simulated lamp changes by itself (a wall switch): the page follows without reload.
    await asyncio.to_thread(lamp.set, "brightness", {"brightness": 42})
    await asyncio.to_thread(lamp.set, "switch", {"on": True})
    await expect(lamp_row.locator('[data-value="brightness.brightness"]')).to_have_text(
        "42 %", timeout=SHOWS_WITHIN)
    await expect(lamp_row.locator('[data-value="switch.on"]')).to_have_text("on")

    # The details view shows both identities and the mapping used.
    await lamp_row.get_by_role("button", name="Details").click()
    await expect(page.locator("#details-name")).to_have_text("Lamp (alljoyn)")
    ids = page.locator("#details-ids")
    await expect(ids).to_contain_text("AllJoyn AppId")
    await expect(ids).to_contain_text("OCF di")
    await expect(page.locator("#details-caps")).to_contain_text("model switch")

    await page.get_by_role("button", name="Gateway").click()
    await expect(page.locator("#gw-parts")).to_contain_text("alljoyn")
    await expect(page.locator("#gw-facts")).to_contain_text("0.1.0")
    await screenshot(page, "gateway")


async def test_a_click_switches_the_light(
        page: Page, alljoyn_device: DeviceFactory, gateway_factory: TestGateways) -> None:
    lamp = alljoyn_device(LIGHT, "Lamp")
    _, url = web_gateway(gateway_factory)
    await page.goto(url)
    lamp_row = row(page, "Lamp")
    button = lamp_row.locator('button[data-cap="switch"][data-prop="on"]')
    await expect(button).to_have_text("Turn on", timeout=SHOWS_WITHIN)

    await button.click()
    assert await lamp.received("switch") == {"on": True}
    # The device's answer comes back to the page through the registry, live.
    await expect(lamp_row.locator('[data-value="switch.on"]')).to_have_text(
        "on", timeout=SHOWS_WITHIN)
    await expect(button).to_have_text("Turn off")


async def test_a_bad_value_shows_the_refusal_and_never_reaches_the_device(
        page: Page, alljoyn_device: DeviceFactory, gateway_factory: TestGateways) -> None:
    lamp = alljoyn_device(LIGHT, "Lamp")
    _, url = web_gateway(gateway_factory)
    await page.goto(url)
    lamp_row = row(page, "Lamp")
    field = lamp_row.locator('input[data-cap="brightness"]')
    await expect(field).to_have_count(1, timeout=SHOWS_WITHIN)

    await field.fill("150")
    await lamp_row.locator('[data-set="brightness.brightness"]').click()
    error = lamp_row.locator('[data-error="brightness"]')
    await expect(error).to_contain_text("150", timeout=SHOWS_WITHIN)
    await expect(error).to_contain_text("100")
    await expect(page.locator("#message")).to_contain_text("Lamp")
    await screenshot(page, "refusal")

    # A good value afterwards goes through, and is the only write the device ever saw.
    await field.fill("70")
    await lamp_row.locator('[data-set="brightness.brightness"]').click()
    assert await lamp.received("brightness") == {"brightness": 70}
    await expect(error).to_have_text("")
    assert lamp.writes("brightness") == [{"brightness": 70}]


async def test_off_loopback_the_page_asks_for_the_password(
        page: Page, alljoyn_device: DeviceFactory, gateway_factory: TestGateways,
        tmp_path: Path) -> None:
    alljoyn_device(LIGHT, "Lamp")
    password = "correct horse battery"
    secrets = tmp_path / "secrets.toml"
    line = make_hash(password)
    secrets.write_text(f'web_password_hash = "{line}"\n')
    secrets.chmod(stat.S_IRUSR | stat.S_IWUSR)
    _, url = web_gateway(gateway_factory, web={"bind": "0.0.0.0"},
                         mqtt={"enabled": False, "secrets_file": str(secrets)})
    await page.goto(url)

    await expect(page.locator("#login")).to_be_visible(timeout=SHOWS_WITHIN)
    await expect(page.locator("#devices")).to_be_hidden()
    refused = await page.request.get(url + "api/devices")
    assert refused.status == 401
    await screenshot(page, "login")

    await page.locator("#password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#message")).to_have_text("wrong password",
                                                         timeout=SHOWS_WITHIN)
    await expect(page.locator("#devices")).to_be_hidden()

    await page.locator("#password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(row(page, "Lamp")).to_have_count(1, timeout=SHOWS_WITHIN)
    assert (await page.request.get(url + "api/devices")).status == 200
    # No response the page gets carries the secret, nor any part of its hash.
    salt_and_hash = line.split("$", 4)[4]
    for path in ("api/session", "api/gateway", "api/devices", "", "static/app.js"):
        body = await (await page.request.get(url + path)).text()
        assert salt_and_hash not in body and password not in body, path
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "ocfaj_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"


async def test_rename_from_the_details_view(
        page: Page, alljoyn_device: DeviceFactory, gateway_factory: TestGateways,
        mosquitto: Mosquitto) -> None:
    alljoyn_device(LIGHT, "Lamp")
    _, url = web_gateway(gateway_factory, mqtt={"host": mosquitto.host, "port": mosquitto.port})
    await page.goto(url)
    lamp_row = row(page, "Lamp")
    await expect(lamp_row).to_have_count(1, timeout=SHOWS_WITHIN)
    await lamp_row.get_by_role("button", name="Details").click()

    # Both addresses on the other sides: the device's own bus name, its MQTT topic.
    ids = page.locator("#details-ids")
    await expect(ids.locator("tr", has_text="AllJoyn bus name")).to_contain_text(":")
    await expect(ids.locator("tr", has_text="MQTT topic")).to_contain_text(
        "ocfaj/lamp", timeout=SHOWS_WITHIN)
    await screenshot(page, "details")

    await page.locator("#rename-name").fill("hall/lamp")
    await page.get_by_role("button", name="Rename").click()
    await expect(page.locator("#rename-error")).to_contain_text("must not contain '/'",
                                                                timeout=SHOWS_WITHIN)
    await expect(ids.locator("tr", has_text="MQTT topic")).to_contain_text("ocfaj/lamp")

    await page.locator("#rename-name").fill("hall_lamp")
    await page.get_by_role("button", name="Rename").click()
    await expect(ids.locator("tr", has_text="MQTT topic")).to_contain_text(
        "ocfaj/hall_lamp", timeout=SHOWS_WITHIN)
    await expect(page.locator("#rename-error")).to_have_text("")
    await expect(page.locator("#message")).to_contain_text("renamed from lamp to hall_lamp")


async def test_policy_and_discovery_from_the_page(
        page: Page, alljoyn_device: DeviceFactory, gateway_factory: TestGateways) -> None:
    alljoyn_device(LIGHT, "Lamp")
    gateway, url = web_gateway(gateway_factory)
    await page.goto(url)
    lamp_row = row(page, "Lamp")
    bridged_to = lamp_row.locator("td").nth(2)
    await expect(bridged_to).to_have_text("ocf", timeout=SHOWS_WITHIN)
    rows = await (await page.request.get(url + "api/devices")).json()
    lamp_id = next(r["id"] for r in rows if r["name"] == "Lamp")

    await page.get_by_role("button", name="Discover now").click()
    await expect(page.locator("#discover-result")).to_contain_text(
        "ocf: done, alljoyn: done", timeout=SHOWS_WITHIN)

    await page.get_by_role("button", name="Policy").click()
    await expect(page.locator("#policy-source")).to_have_text("(from the configuration file)",
                                                              timeout=SHOWS_WITHIN)
    await page.get_by_role("button", name="Add a rule").click()
    await page.get_by_label("rule 1 action").select_option("deny")
    await page.get_by_label("rule 1 side").select_option("ocf")
    await page.get_by_label("rule 1 id").fill(lamp_id)
    await screenshot(page, "policy")
    await page.get_by_role("button", name="Save and apply").click()
    await expect(page.locator("#message")).to_contain_text("policy applied: 1 devices",
                                                           timeout=SHOWS_WITHIN)
    await expect(page.locator("#policy-source")).to_contain_text("stored in")
    assert (gateway.state_dir / "policy.json").exists()

    # The lamp no longer crosses to OCF, and the list says so live.
    await page.get_by_role("button", name="Devices").click()
    await expect(bridged_to).to_have_text("-", timeout=SHOWS_WITHIN)
