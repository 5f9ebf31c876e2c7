"""The README's dashboard screenshot (docs/dashboard.png), taken in headless Chromium.

Run from the repository root::

    .venv/bin/python -m bench.screenshot            # writes docs/dashboard.png
    .venv/bin/python -m bench.screenshot --page logs --out /tmp/logs.png

A gateway with the mock provider, the request log and three virtual keys is started in this process; SDK calls
through it make the last minutes' rows, and an hour of earlier rows (seeded, so every run draws the same picture)
is written into its logs.db through the plugin's store, as a day of traffic to three priced providers would
have left them: a quiet start, a busy stretch, and a burst of upstream 429s and 502s with fallbacks.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from gateway.testing import Gateway, serve_gateway
from gateway_plugins.request_log.api import LOG
from gateway_plugins.request_log.rows import Row

ADMIN = "screenshot-admin-token"
CHROMIUM = "/usr/bin/chromium-headless-shell"
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# (model as asked, provider, upstream model, USD per input token, per output token, typical latency ms)
MODELS = (
    ("gpt-4.1-mini", "openai", "gpt-4.1-mini", 0.4e-6, 1.6e-6, 650.0),
    ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", 3e-6, 15e-6, 1400.0),
    ("gemini-2.5-flash", "gemini", "gemini-2.5-flash", 0.3e-6, 2.5e-6, 800.0),
)
KEYS = ("checkout-service", "support-bot", "data-pipeline")


def config() -> dict[str, Any]:
    keys = [
        {"id": f"vk-{i}", "name": name, "value": f"sk-bf-screenshot-{i}-{'x' * 24}",
         "provider_configs": [{"provider": "mock", "allowed_models": ["*"]}],
         "budgets": [{"max_limit": [50, 20, 200][i], "reset_duration": "1M"}],
         "rate_limit": {"request_max_limit": [600, 120, 3000][i], "request_reset_duration": "1m"}}
        for i, name in enumerate(KEYS)
    ]  # fmt: skip
    return {
        "providers": {"mock": {"options": {"latency_ms": 35, "chunks": 6}}},
        "plugins": [{"name": "logging"}],
        "governance": {"auth_config": {"admin_token": ADMIN}, "virtual_keys": keys},
    }


def history(now: float, rng: random.Random) -> list[Row]:
    """An hour of rows before `now`: load rising to a busy stretch, with an error burst 20 minutes ago."""
    rows = []
    at = now - 3600
    while at < now - 20:
        minute = (now - at) / 60
        busy = 1.0 + 1.6 * math.exp(-(((minute - 28) / 12) ** 2))
        burst = 14 < minute < 21
        at += rng.expovariate(1.6 * busy)
        asked, provider, upstream, price_in, price_out, typical = rng.choice(MODELS)
        tokens_in, tokens_out = int(rng.lognormvariate(6.6, 0.7)), int(rng.lognormvariate(5.2, 0.6))
        failed = rng.random() < (0.22 if burst and provider == "anthropic" else 0.012)
        fell_back = burst and provider == "anthropic" and not failed and rng.random() < 0.5
        trail = [f"{provider}/{upstream}"] + (["openai/gpt-4.1-mini"] if fell_back else [])
        latency = rng.lognormvariate(math.log(typical * (1.8 if burst else 1.0)), 0.45)
        rows.append(Row(
            time=at, request_id=f"req_{rng.getrandbits(48):012x}", route="/v1/chat/completions", dialect="openai",
            stream=rng.random() < 0.4, virtual_key=rng.choice(KEYS), model=asked,
            provider="openai" if fell_back else provider, upstream_model="gpt-4.1-mini" if fell_back else upstream,
            fallback_trail=trail, fallback_index=len(trail) - 1, attempts=len(trail),
            status=rng.choice((429, 502)) if failed else 200,
            error="rate_limit_error: upstream rate limit" if failed else None,
            latency_ms=round(latency, 3), overhead_ms=round(rng.lognormvariate(math.log(0.32), 0.3), 3),
            input_tokens=0 if failed else tokens_in, output_tokens=0 if failed else tokens_out,
            cost_usd=None if failed else tokens_in * price_in + tokens_out * price_out,
        ))  # fmt: skip
    return rows


async def traffic(gw: Gateway, rng: random.Random, calls: int) -> None:
    """Calls through the gateway with the official SDK and the virtual keys: the newest rows, content included."""
    questions = ("Summarise this ticket in one line.", "Classify the sentiment of: 'the parcel came late'.",
                 "Translate 'order confirmed' to German.", "Write a SQL query counting orders per day.")  # fmt: skip
    for i in range(calls):
        client = gw.openai(api_key=f"sk-bf-screenshot-{i % 3}-{'x' * 24}")
        await client.chat.completions.create(
            model="mock/gpt-4.1-mini", messages=[{"role": "user", "content": rng.choice(questions)}], max_tokens=64
        )
        await client.close()


async def shoot(gw: Gateway, page_name: str, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        await page.goto(f"{gw.url}/ui/{page_name}")
        await page.fill("#login-token", ADMIN)
        await page.click("#login-submit")
        if page_name == "overview":
            await page.wait_for_selector("#chart-latency svg path.line")
        else:
            await page.wait_for_selector("[data-page] tbody tr")
        await page.mouse.move(0, 0)  # no chart column highlighted under the pointer
        await page.wait_for_timeout(300)
        await page.screenshot(path=str(out), full_page=True)
        await browser.close()


async def main(page_name: str, out: Path) -> None:
    rng = random.Random(14)
    async with serve_gateway(config()) as gw:
        log = gw.app[LOG]
        await log.store.insert(history(time.time(), rng))
        await traffic(gw, rng, 24)
        await asyncio.wait_for(log.idle(), 10)
        out.parent.mkdir(parents=True, exist_ok=True)
        await shoot(gw, page_name, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--page", default="overview", choices=("overview", "logs", "keys", "providers"))
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    arguments = parser.parse_args()
    asyncio.run(main(arguments.page, arguments.out))
