"""The dashboard's browser tests: one headless Chromium (the system's: `.ci/run` installs
chromium-headless-shell; no Playwright browser download) and one gateway per module, all in the module's event
loop; each test gets a fresh browser context (its own sessionStorage) whose page errors and console errors (a
CSP violation is one) fail the test."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from gateway.testing import FakeUpstream, Gateway, serve_gateway, upstream_config
from gateway_plugins.request_log.api import LOG
from gateway_plugins.request_log.writer import RequestLog

ADMIN = "admin-token-for-dashboard-tests"
ADMIN_USER, ADMIN_PASSWORD = "ops", "correct horse battery staple"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000  # for any one wait of a test: a failure says so within seconds, never hangs


def chromium() -> str:
    found = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    assert found, "headless Chromium is missing: apt-get install chromium-headless-shell (as .ci/run does)"
    return found


def dashboard_config(upstream: str) -> dict[str, Any]:
    return {
        **upstream_config(upstream),
        "plugins": [{"name": "logging"}],
        "governance": {
            "auth_config": {
                "admin_token": ADMIN, "admin_username": ADMIN_USER, "admin_password": ADMIN_PASSWORD,
                "is_enabled": True,
            },
        },
    }  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium(), args=ARGS)
        yield launched
        await launched.close()


@dataclass
class Dashboard:
    gw: Gateway
    upstream: FakeUpstream

    @property
    def log(self) -> RequestLog:
        return self.gw.app[LOG]

    async def written(self, count: int) -> None:
        """Until the request log has written `count` rows in all (its writer runs off the request path)."""
        log = self.log
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while log.written < count:
            assert time.monotonic() < deadline, f"{log.written} rows written, waited for {count}"
            await asyncio.sleep(0.01)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dashboard() -> AsyncIterator[Dashboard]:
    async with FakeUpstream() as upstream, serve_gateway(dashboard_config(upstream.url)) as gw:
        yield Dashboard(gw, upstream)


@dataclass
class Problems:
    """What went wrong inside the page: uncaught errors and console errors (CSP violations among them)."""

    seen: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        # The browser logs every 4xx answer as "Failed to load resource": the page expects some (a wrong token).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.seen.append(f"console: {message.text}")


async def new_page(browser: Browser, problems: Problems, **options: Any) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(**({"viewport": DESKTOP} | options))
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    page.on("console", problems.console)
    page.on("pageerror", lambda error: problems.seen.append(f"page error: {error}"))
    return context, page


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    problems = Problems()
    context, opened = await new_page(browser, problems)
    yield opened
    await context.close()
    assert problems.seen == [], problems.seen


@pytest.fixture
def phone_options() -> dict[str, Any]:
    return {"viewport": PHONE, "is_mobile": True, "has_touch": True, "device_scale_factor": 3}
