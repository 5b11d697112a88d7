"""Chromium from the system's packages, driven by Playwright for Python (its own browser
download is not reachable here), and screenshots of what the tests saw.

    async def test_x(demo_site, browser, shoot):
        page = await browser.new_page(**ZH_PHONE)
        await page.goto(demo_site.url + "/")
        await shoot(page, "index-zh")

Screenshots land in <pytest's base temp>/screenshots/; the path is printed at the end of the
run. Look at them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

PHONE = {"width": 360, "height": 740}  # a cheap Android phone, CSS pixels
# A phone set to Chinese, as most readers' are (Chromium's own default says en-US):
# `browser.new_page(**ZH_PHONE)`.
ZH_PHONE: dict[str, Any] = {"viewport": PHONE, "locale": "zh-CN"}
EN_PHONE: dict[str, Any] = {"viewport": PHONE, "locale": "en-US"}
# As the machine's notes say: without the background-networking flags Chromium tries
# Google's hosts at start, which this closed network refuses.
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: apt-get install -y chromium")
        pytest.skip("no chromium on PATH (apt-get install -y chromium fonts-noto-cjk)")
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=path, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def shoot(
    screenshots: Path, request: pytest.FixtureRequest
) -> Callable[[Any, str], Awaitable[Path]]:
    backend = getattr(request.node, "callspec", None)
    suffix = f"-{backend.params.get('db_url')}" if backend and "db_url" in backend.params else ""

    async def take(page: Any, name: str) -> Path:
        path = screenshots / f"{name}{suffix}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return take


async def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no sideways scroll)."""
    return int(
        await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    base = getattr(terminalreporter.config, "_tmp_path_factory", None)
    if base is not None:
        folder = base.getbasetemp() / "screenshots"
        if folder.exists() and any(folder.iterdir()):
            terminalreporter.write_line(f"browser screenshots: {folder}")
