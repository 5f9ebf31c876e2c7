"""The dashboard at /ui in headless Chromium against a running gateway: its headers, signing in and out, traffic
on the overview, and the logs (filters, one request opened, the live tail, a hostile prompt shown as text)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from gateway.app import create_app
from gateway.config import parse_settings
from gateway.http.server import listen
from gateway.testing import Http, Reply, serve_gateway
from gateway_plugins.request_log.rows import Row
from tests.dashboard.conftest import ADMIN, ADMIN_PASSWORD, ADMIN_USER, Dashboard, dashboard_config

pytestmark = pytest.mark.asyncio(loop_scope="module")
HOSTILE = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'


async def sign_in(page: Page, dashboard: Dashboard, path: str = "/ui") -> None:
    await page.goto(dashboard.gw.url + path)
    await page.fill("#login-token", ADMIN)
    await page.click("#login-submit")
    await expect(page.locator("#app")).to_be_visible()


async def call(dashboard: Dashboard, text: str, model: str = "mock/m", **extra: Any) -> None:
    """One call with the official SDK (`extra`: more body fields); returns once its row is written."""
    written = dashboard.log.written
    async with dashboard.gw.anthropic() as client:
        await client.messages.create(
            model=model, max_tokens=16, messages=[{"role": "user", "content": text}], extra_body=extra
        )
    await dashboard.written(written + 1)


async def test_every_ui_answer_carries_the_security_headers_and_no_inline_code(dashboard: Dashboard) -> None:
    async with Http(dashboard.gw.url, None) as http:  # no credentials: the files hold no data
        for path, status, kind in [
            ("/ui", 200, "text/html"), ("/ui/", 200, "text/html"), ("/ui/logs", 200, "text/html"),
            ("/ui/assets/app.js", 200, "text/javascript"), ("/ui/assets/app.css", 200, "text/css"),
            ("/ui/assets/icon.svg", 200, "image/svg+xml"), ("/ui/assets/nothing.js", 404, "text/plain"),
            ("/ui/nothing", 404, "text/plain"),
        ]:  # fmt: skip
            answer = await http.get(path)
            assert answer.status == status and answer.headers["Content-Type"].startswith(kind), path
            csp = answer.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert answer.headers["X-Frame-Options"] == "DENY"
            assert answer.headers["Referrer-Policy"] == "no-referrer"
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
        shell = (await http.get("/ui")).body.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)", shell) == [] and " style=" not in shell


async def test_a_wrong_token_is_refused_and_the_right_one_signs_in_until_log_out(
    page: Page, dashboard: Dashboard
) -> None:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    await page.goto(dashboard.gw.url + "/ui")
    await page.fill("#login-token", "not-the-token")
    await page.click("#login-submit")
    await expect(page.locator("#login-error")).to_contain_text("Wrong admin credentials")
    await expect(page.locator("#app")).to_be_hidden()
    await page.fill("#login-token", ADMIN)
    await page.click("#login-submit")
    await expect(page.locator("[data-page=overview] h1")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('gateway.dashboard.authorization')") == f"Bearer {ADMIN}"
    assert await page.evaluate("localStorage.length") == 0 and ADMIN not in page.url
    await page.reload()  # the tab's session keeps it signed in
    await expect(page.locator("[data-page=overview] h1")).to_be_visible()
    await page.click("#logout")
    await expect(page.locator("#login")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0
    assert any("/api/logs/series" in url for url in urls)  # the overview asked for its data...
    assert not [url for url in urls if ADMIN in url or "not-the-token" in url]  # ...with the token in no URL


async def test_the_admin_username_and_password_sign_in_too(page: Page, dashboard: Dashboard) -> None:
    await page.goto(dashboard.gw.url + "/ui/logs")
    await page.click("#login-basic summary")
    await page.fill("#login-user", ADMIN_USER)
    await page.fill("#login-password", ADMIN_PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("[data-page=logs] h1")).to_be_visible()  # the page the path named
    assert (await page.evaluate("sessionStorage.getItem('gateway.dashboard.authorization')")).startswith("Basic ")


async def test_a_credential_refused_later_returns_to_the_login(page: Page, dashboard: Dashboard) -> None:
    await sign_in(page, dashboard)
    await page.evaluate("sessionStorage.setItem('gateway.dashboard.authorization', 'Bearer revoked')")
    await page.click("[data-nav=logs]")
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#login-error")).to_contain_text("sign in again")


async def test_traffic_shows_on_the_overview(page: Page, dashboard: Dashboard) -> None:
    await sign_in(page, dashboard)
    await expect(page.locator("#chart-rps svg")).to_be_visible()
    before = int((await page.locator(".card-value").first.inner_text()).replace(",", ""))
    for i in range(5):
        await call(dashboard, f"overview {i}")
    await page.click("#overview-refresh")
    await expect(page.locator(".card-value").first).to_have_text(f"{before + 5:,}")
    await expect(page.locator("#breakdown tbody")).to_contain_text("mock")
    assert await page.locator("#chart-latency svg path.line, #chart-latency svg circle.dot").count() >= 1


async def test_logs_filter_and_one_request_shows_its_trail_usage_and_content(page: Page, dashboard: Dashboard) -> None:
    up = dashboard.upstream
    up.default("/v1/messages", Reply.error(503, "overloaded_error", "busy", dialect="anthropic"))
    await call(dashboard, "fall back please", "anthropic/claude-x", fallbacks=["mock/m"])
    await call(dashboard, "an unrelated question")
    await sign_in(page, dashboard, "/ui/logs")
    await page.fill("#filters [name=model]", "anthropic/claude-x")
    await page.click("#filters button[type=submit]")
    rows = page.locator("#log-table tbody tr")
    await expect(rows).to_have_count(1)
    await rows.first.click()
    detail = page.locator("#detail")
    await expect(detail).to_be_visible()
    await expect(detail.locator(".trail li")).to_have_count(2)
    await expect(detail.locator(".trail li").nth(0)).to_contain_text("anthropic/claude-x")
    await expect(detail.locator(".trail li").nth(1)).to_contain_text("mock/m")
    await expect(detail.locator(".trail li.served")).to_contain_text("fallback 1")
    await expect(detail.locator(".conversation")).to_contain_text("fall back please")
    await expect(detail.locator(".message.answer")).to_be_visible()
    await expect(detail).to_contain_text("Input")
    assert "null" not in await detail.inner_text() and "undefined" not in await detail.inner_text()
    await page.click("#detail-close")
    await page.fill("#filters [name=model]", "")
    await page.fill("#filters [name=q]", "UNRELATED")  # text search, case-blind
    await page.click("#filters button[type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("mock/m")


async def test_older_pages_follow_the_cursor(page: Page, dashboard: Dashboard) -> None:
    at = time.time() - 7200  # older than any other row of the module, inside the default 24 h
    await dashboard.log.store.insert(
        [Row(time=at + i, request_id=f"old-{i}", route="/v1/messages", dialect="anthropic", model=f"paged/{i}")
         for i in range(60)]
    )  # fmt: skip
    await sign_in(page, dashboard, "/ui/logs")
    rows = page.locator("#log-table tbody tr")
    await expect(rows.first).to_be_visible()
    shown = await rows.count()
    assert shown == 50
    await page.click("#older")
    await expect(rows).not_to_have_count(shown)
    await expect(page.locator("#log-table tbody")).to_contain_text("paged/0")  # the oldest row, on a later page
    ids = await rows.evaluate_all("rows => rows.map(row => row.dataset.id)")
    assert len(ids) > shown and len(set(ids)) == len(ids), "a row shown twice"


async def test_a_hostile_prompt_is_shown_as_text_and_runs_nothing(page: Page, dashboard: Dashboard) -> None:
    await call(dashboard, HOSTILE)
    await sign_in(page, dashboard, "/ui/logs")
    await page.fill("#filters [name=q]", "onerror")
    await page.click("#filters button[type=submit]")
    await page.locator("#log-table tbody tr").first.click()
    conversation = page.locator("#detail .conversation")
    await expect(conversation).to_contain_text(HOSTILE)  # the markup, as characters
    assert await page.locator("#detail img, #detail script").count() == 0
    assert await page.evaluate("window.__pwned") is None


async def test_the_live_tail_shows_a_new_request(page: Page, dashboard: Dashboard) -> None:
    await sign_in(page, dashboard, "/ui/logs")
    await expect(page.locator("#log-table tbody tr").first).to_be_visible()
    async with page.expect_response(re.compile(r"/api/logs/stream")):
        await page.check("#live")
    await call(dashboard, "tail me", "mock/tailed-model")
    fresh = page.locator("#log-table tbody tr.fresh")
    await expect(fresh.first).to_contain_text("mock/tailed-model")
    await page.uncheck("#live")


async def test_with_the_request_log_off_the_pages_say_so(page: Page, dashboard: Dashboard) -> None:
    config = dashboard_config(dashboard.upstream.url) | {"plugins": []}
    async with serve_gateway(config) as gw:
        await page.goto(gw.url + "/ui")
        await page.fill("#login-token", ADMIN)
        await page.click("#login-submit")
        await expect(page.locator("[data-page=overview] [data-off=logging]")).to_be_visible()
        await expect(page.locator("#overview-body")).to_be_hidden()
        await page.click("[data-nav=logs]")
        await expect(page.locator("[data-page=logs] [data-off=logging]")).to_contain_text("request log is off")


async def test_disabled_the_dashboard_serves_nothing(dashboard: Dashboard) -> None:
    config = dashboard_config(dashboard.upstream.url) | {"plugins": [{"name": "dashboard", "enabled": False}]}
    async with serve_gateway(config) as gw, Http(gw.url, None) as http:
        assert (await http.get("/ui")).status == 404
        assert (await http.get("/ui/assets/app.js")).status == 404


async def test_with_an_admin_port_the_dashboard_answers_there_beside_the_api(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    app = create_app(parse_settings(dashboard_config(dashboard.upstream.url)), app_dir=tmp_path)
    served = await listen(app, "127.0.0.1", 0, admin_port=0)
    try:
        assert served.admin_url is not None
        async with Http(served.url, None) as main, Http(served.admin_url, None) as admin:
            for path in ("/ui", "/ui/logs", "/ui/assets/app.js"):
                assert (await admin.get(path)).status == 200, path
                assert (await main.get(path)).status == 404, path
            assert "GET /ui" not in (await main.get("/")).json()["routes"]
    finally:
        await served.close()
