"""Fixtures of the web page's tests: Debian's chromium driven by Playwright, and gateways that
serve the page.

The browser is the system's ``chromium`` (installed by ``scripts/test``), started headless by
Playwright through ``executable_path``: Playwright never downloads a browser of its own here.
Everything runs inside the test run's private network namespace, so the page is reached on
127.0.0.1 and nothing leaves the machine. Set ``OCFAJ_SCREENSHOTS=DIR`` to have the tests
save the screenshots of docs/web.md there.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from bridge.sim.testing.gateway import TestGateway
from bridge.sim.testing.gateways import TestGateways

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking",
                 "--disable-gpu", "--disable-dev-shm-usage"]
#: Longest wait for something to show on the page (a loaded 2-core machine, devices found
#: by the gateway's discovery first).
SHOWS_WITHIN = 30_000


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium is not installed: ./scripts/test installs the Debian "
                           "package chromium")
    return path


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_path(),
                                                    args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    tab = await context.new_page()
    yield tab
    await context.close()


def web_gateway(gateways: TestGateways, *, web: dict[str, Any] | None = None,
                **sections: Any) -> tuple[TestGateway, str]:
    """A running ``ocfaj run`` serving the page on a free port; returns it and the page URL."""
    port = free_tcp_port()
    gateway = gateways("gw", web={"enabled": True, "port": port, **(web or {})}, **sections)
    return gateway, f"http://127.0.0.1:{port}/"


async def screenshot(page: Page, name: str) -> None:
    """Save a screenshot for docs/web.md when ``OCFAJ_SCREENSHOTS`` names a directory."""
    directory = os.environ.get("OCFAJ_SCREENSHOTS")
    if directory:
        await asyncio.to_thread(Path(directory).mkdir, parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)
