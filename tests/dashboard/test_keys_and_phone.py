"""The dashboard's virtual keys (create one and use it with the SDK, disable it, delete it), provider health, and
the pages at a phone's size (the navigation folds away; nothing scrolls the page sideways)."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from playwright.async_api import Browser, Page, expect

from gateway.testing import Http, Reply
from tests.dashboard.conftest import ADMIN, Dashboard, Problems, new_page
from tests.dashboard.test_dashboard import call, sign_in

pytestmark = pytest.mark.asyncio(loop_scope="module")
HI: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hi"}]


async def ask_with(dashboard: Dashboard, key: str) -> int:
    """The status of one call made with the official SDK and the virtual key `key`."""
    async with dashboard.gw.anthropic(api_key=key) as client:
        try:
            await client.messages.create(model="mock/m", max_tokens=8, messages=HI)
        except anthropic.APIStatusError as error:
            return error.status_code
    return 200


async def test_a_key_is_created_used_disabled_and_deleted(page: Page, dashboard: Dashboard) -> None:
    await sign_in(page, dashboard, "/ui/keys")
    await page.click("#create-panel summary")
    form = page.locator("#create-key")
    await form.locator("[name=name]").fill("web-team")
    await form.locator("[name=providers]").fill("mock")
    await form.locator("[name=budget]").fill("25")
    await form.locator("[name=requests]").fill("100")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#created")).to_be_visible()
    value = await page.locator("#created-value").input_value()
    assert value.startswith("sk-bf-")
    row = page.locator("#key-table tr[data-key=web-team]")
    await expect(row).to_contain_text("active")
    await expect(row.locator(".meter")).to_have_count(2)  # the budget and the request limit
    assert await ask_with(dashboard, value) == 200
    await page.click("#keys-refresh")
    await expect(row.locator(".meter").last).to_contain_text("1 / 100")  # the call counted on its limit
    await page.click("#created-done")  # the value is gone from the page for good
    assert await page.locator("#created-value").input_value() == ""
    assert value not in await page.content()

    await row.get_by_role("button", name="Disable").click()
    await expect(row).to_contain_text("disabled")
    assert await ask_with(dashboard, value) == 403  # governance: "virtual key ... is inactive"
    await row.get_by_role("button", name="Enable").click()
    await expect(row).to_contain_text("active")

    await row.get_by_role("button", name="Delete").click()
    await row.get_by_role("button", name="Cancel").click()  # the confirm step can be backed out of
    await row.get_by_role("button", name="Delete").click()
    await row.get_by_role("button", name="Delete for good").click()
    await expect(row).to_have_count(0)
    assert await ask_with(dashboard, value) == 401


async def test_a_refused_create_shows_the_gateways_reason(page: Page, dashboard: Dashboard) -> None:
    await sign_in(page, dashboard, "/ui/keys")
    await page.click("#create-panel summary")
    await page.locator("#create-key [name=name]").fill("bad-budget")
    await page.locator("#create-key [name=providers]").fill("mock")
    await page.locator("#create-key [name=budget]").fill("-5")
    await page.evaluate("document.querySelector('#create-key [name=budget]').removeAttribute('min')")
    await page.locator("#create-key button[type=submit]").click()
    await expect(page.locator("#keys-error")).to_contain_text("invalid VirtualKey")
    await expect(page.locator("#created")).to_be_hidden()


async def test_the_providers_page_shows_health_and_a_dead_key(page: Page, dashboard: Dashboard) -> None:
    dashboard.upstream.default(
        "/v1/chat/completions", Reply.error(401, "authentication_error", "key revoked", dialect="openai")
    )
    async with dashboard.gw.openai() as client:  # the upstream refuses the openai key: it is marked dead
        with pytest.raises(openai.APIStatusError):
            await client.chat.completions.create(model="openai/gpt-x", messages=[{"role": "user", "content": "x"}])
    async with Http(dashboard.gw.url, None) as http:
        answer = await http.get("/api/providers/health", {"Authorization": f"Bearer {ADMIN}"})
    assert answer.status == 200, answer
    health = {provider["name"]: provider for provider in answer.json()["providers"]}
    assert [key["state"] for key in health["openai"]["keys"]] == ["dead"]
    await sign_in(page, dashboard, "/ui/providers")
    for name, provider in health.items():
        card = page.locator(f"article[data-provider='{name}']")
        await expect(card).to_contain_text(f"{provider['in_flight']} / {provider['concurrency']:,}")
        for key in provider["keys"]:
            await expect(card.locator("tbody tr", has_text=key["name"])).to_contain_text(key["state"])
    openai_card = page.locator("article[data-provider='openai']")
    await expect(openai_card.locator(".panel-head .badge")).to_have_text("down")  # its only key is dead
    await expect(openai_card.locator(".last-error")).to_contain_text("key revoked")
    await expect(page.locator("article[data-provider='mock'] .panel-head .badge")).to_have_text("healthy")
    await expect(page.locator("#providers-off")).to_be_hidden()


async def test_at_a_phone_size_the_menu_folds_and_nothing_scrolls_sideways(
    browser: Browser, dashboard: Dashboard, phone_options: dict[str, Any]
) -> None:
    problems = Problems()
    context, page = await new_page(browser, problems, **phone_options)
    try:
        await call(dashboard, "a phone's view of the logs " * 8)
        await sign_in(page, dashboard)
        await expect(page.locator("#chart-rps svg")).to_be_visible()
        await expect(page.locator("#nav")).to_be_hidden()
        for view in ("logs", "keys", "overview"):
            await page.click("#menu")
            await page.click(f"#nav [data-nav={view}]")
            await expect(page.locator(f"[data-page={view}] h1")).to_be_visible()
            await expect(page.locator("#nav")).to_be_hidden()  # folded again once a page is chosen
            if view == "logs":  # the filters start folded; opened, they work
                await expect(page.locator("#filters")).to_be_hidden()
                await page.click("#filter-box summary")
                await page.fill("#filters [name=q]", "a phone's view")
                await page.click("#filters button[type=submit]")
                await expect(page.locator("#log-table tbody tr")).to_have_count(1)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{view}: the page is {width}px wide"
        wide = await page.evaluate(
            "[...document.querySelectorAll('.chart svg')].map(s => s.getBoundingClientRect().right)"
        )
        assert wide and max(wide) <= 390
    finally:
        await context.close()
    assert problems.seen == [], problems.seen
