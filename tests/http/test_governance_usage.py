"""Governance cost and usage: the provider's usage (streamed or not, cache reads and writes priced on their own)
is debited at every level after the call; a failed call releases its reservation; and 50 concurrent calls
against a budget that admits 10 reservations cannot overspend it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    assert_anthropic_error,
    openai_completion,
    openai_sse,
    openai_usage,
)
from tests.conftest import Gateway, MakeGateway
from tests.http.governance_helpers import (
    CLAUDE,
    GPT,
    MESSAGES,
    UP_CHAT,
    UP_MESSAGES,
    VK_A,
    X_CHAT,
    X,
    admin,
    bearer,
    budget,
    config,
    messages,
    meters,
    providers,
    settled,
    used,
    vk,
)

PRICES: dict[str, Any] = {
    CLAUDE: {  # explicit cache prices
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 2e-6,
        "cache_read_input_token_cost": 3e-7,
        "cache_creation_input_token_cost": 5e-6,
    },
    "anthropic/claude-d": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},  # default cache prices
    GPT: {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "cache_read_input_token_cost": 5e-7},
}
CACHED = anthropic_usage(1000, 500, cache_creation_input_tokens=200, cache_read_input_tokens=4000)
CACHED_COST = 1000 * 1e-6 + 500 * 2e-6 + 200 * 5e-6 + 4000 * 3e-7  # $0.0042
DEFAULT_COST = 1000 * 1e-6 + 500 * 2e-6 + 200 * 1.25e-6 + 4000 * 1e-7  # cache write 1.25x, read 0.1x input
OPENAI_CACHED = openai_usage(1000, 500, cached_tokens=400)  # 600 uncached + 400 cache reads
OPENAI_COST = 600 * 1e-6 + 400 * 5e-7 + 500 * 2e-6  # $0.0018
BUDGET = [budget(100.0)]
# Every level has a budget: key, its provider configs, its team and the team's customer.
TEAMS = [{"id": "t-1", "customer_id": "c-1", "budgets": BUDGET}]
CUSTOMERS = [{"id": "c-1", "budgets": BUDGET}]
LEVELS = ("budget:vk:vk-a:0", "budget:team:t-1:0", "budget:customer:c-1:0")


async def everywhere(make_gateway: MakeGateway, fake: FakeUpstream) -> Gateway:
    key = vk("vk-a", VK_A, team_id="t-1", budgets=BUDGET, provider_configs=providers(budgets=BUDGET))
    return await make_gateway(config(fake.url, key, teams=TEAMS, customers=CUSTOMERS, pricing=PRICES))


def assert_debited(gw: Gateway, provider: str, cost: float) -> None:
    for level in (*LEVELS, f"budget:vk:vk-a/{provider}:0"):
        assert used(gw, level) == pytest.approx(cost, rel=1e-9, abs=1e-15), level
        assert meters(gw)[level].reserved == 0, level


async def test_cache_reads_and_writes_are_priced_on_their_own_at_every_level(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=CACHED)))
    gw = await everywhere(make_gateway, fake_upstream)
    async with gw.anthropic(api_key=VK_A) as client:
        message = await client.messages.create(model=CLAUDE, max_tokens=600, messages=X)
    assert message.usage.cache_read_input_tokens == 4000
    await settled(gw)
    assert_debited(gw, "anthropic", CACHED_COST)
    async with gw.http(None) as raw:  # the admin view of the key's meters says the same
        usage = (await admin(raw, "GET", "/virtual-keys/vk-a/usage")).json()
    rows = {row["meter"]: row for row in usage["meters"]}
    assert rows["budget:vk:vk-a:0"]["used"] == pytest.approx(CACHED_COST)
    assert rows["budget:vk:vk-a:0"]["limit"] == 100.0
    assert rows["budget:vk:vk-a/anthropic:0"]["used"] == pytest.approx(CACHED_COST)


async def test_default_cache_prices_are_a_tenth_and_one_and_a_quarter_of_input(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=CACHED)))
    gw = await everywhere(make_gateway, fake_upstream)
    async with gw.anthropic(api_key=VK_A) as client:
        await client.messages.create(model="anthropic/claude-d", max_tokens=600, messages=X)
    await settled(gw)
    assert_debited(gw, "anthropic", DEFAULT_COST)


async def test_anthropic_stream_is_debited_from_its_final_usage(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.sse(anthropic_sse(("str", "eamed"), usage=CACHED)))
    gw = await everywhere(make_gateway, fake_upstream)
    async with gw.anthropic(api_key=VK_A) as client:
        async with client.messages.stream(model=CLAUDE, max_tokens=600, messages=X) as stream:
            text = "".join([t async for t in stream.text_stream])
    assert text == "streamed"
    await settled(gw)
    assert_debited(gw, "anthropic", CACHED_COST)


async def test_openai_stream_is_debited_from_its_usage_chunk(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_CHAT, Reply.sse(openai_sse(("a", "b"), usage=OPENAI_CACHED)))
    gw = await everywhere(make_gateway, fake_upstream)
    async with gw.openai(api_key=VK_A) as client:
        stream = await client.chat.completions.create(model=GPT, max_tokens=600, messages=X_CHAT, stream=True)
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "ab"
    await settled(gw)
    assert_debited(gw, "openai", OPENAI_COST)


async def test_openai_usage_translated_for_an_anthropic_client_is_debited(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP_CHAT, Reply.json(openai_completion("one", usage=OPENAI_CACHED)))
    fake_upstream.script(UP_CHAT, Reply.sse(openai_sse(("two",), usage=OPENAI_CACHED)))
    gw = await everywhere(make_gateway, fake_upstream)
    async with gw.anthropic(api_key=VK_A) as client:
        await client.messages.create(model=GPT, max_tokens=600, messages=X)
        async with client.messages.stream(model=GPT, max_tokens=600, messages=X) as stream:
            await stream.get_final_message()
    await settled(gw)
    assert_debited(gw, "openai", 2 * OPENAI_COST)


async def test_a_failed_call_releases_its_reservation(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.error(500, "api_error", "down", dialect="anthropic"))
    limit = {"token_max_limit": 100_000, "request_max_limit": 100}
    key = vk("vk-a", VK_A, budgets=[budget(0.01)], rate_limit=limit, provider_configs=providers("anthropic"))
    gw = await make_gateway(config(fake_upstream.url, key, pricing=PRICES))
    async with gw.http(None) as raw:
        for stream in (False, True, False):  # each reserves 4000 x 2e-6 = $0.008 of the $0.01: one at a time
            assert (await messages(raw, VK_A, max_tokens=4000, stream=stream)).status == 500
        await settled(gw)
        assert used(gw, "budget:vk:vk-a:0") == 0 and meters(gw)["budget:vk:vk-a:0"].reserved == 0
        assert used(gw, "tokens:vk:vk-a") == 0 and meters(gw)["tokens:vk:vk-a"].reserved == 0
        assert used(gw, "requests:vk:vk-a") == 3  # a request counts when admitted
    assert len(fake_upstream.requests) == 3


# --- 50 concurrent calls against a budget that admits 10 reservations -----------------------------------------

# Prices that are powers of two keep every sum exact, so "admits exactly 10" is exact too.
IN_PRICE, OUT_PRICE = 2.0**-20, 2.0**-16
MAX_TOKENS = 64
BODY = json.dumps({"model": CLAUDE, "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": "hello"}]})
PROMPT = len(BODY.encode()) // 3 + 1  # the gateway's prompt estimate: body bytes / 3
RESERVATION = PROMPT * IN_PRICE + MAX_TOKENS * OUT_PRICE
LIMIT = 10 * RESERVATION
CALLS = 50


@pytest.mark.parametrize("fraction", [pytest.param(1, id="usage-equal-to-reservation"),
                                      pytest.param(2, id="usage-half-of-it")])  # fmt: skip
async def test_concurrent_calls_cannot_overspend_the_budget(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, fraction: int
) -> None:
    usage = anthropic_usage(PROMPT // fraction, MAX_TOKENS // fraction)
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=usage), delay=0.3))
    pricing = {CLAUDE: {"input_cost_per_token": IN_PRICE, "output_cost_per_token": OUT_PRICE}}
    key = vk("vk-a", VK_A, budgets=[budget(LIMIT)], provider_configs=providers("anthropic"))
    gw = await make_gateway(config(fake_upstream.url, key, pricing=pricing))
    peaks = {"held": 0.0, "used": 0.0}
    done = asyncio.Event()

    async def watch() -> None:  # the meter as seen between the calls' steps
        while not done.is_set():
            meter = meters(gw).get("budget:vk:vk-a:0")
            if meter is not None:
                peaks["held"] = max(peaks["held"], meter.used + meter.reserved)
                peaks["used"] = max(peaks["used"], meter.used)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    async with gw.http(None) as raw:
        headers = bearer(VK_A)
        answers = await asyncio.gather(*(raw.post(MESSAGES, BODY.encode(), headers) for _ in range(CALLS)))
        await settled(gw)
    done.set()
    await watcher

    ok = [a for a in answers if a.status == 200]
    for answer in answers:
        if answer.status != 200:
            assert_anthropic_error(answer, 402, "billing_error", "budget of virtual key 'vk-a'")
    meter = meters(gw)["budget:vk:vk-a:0"]
    assert len(fake_upstream.requests) == len(ok)
    if fraction == 1:
        assert len(ok) == 10, [a.status for a in answers]  # exactly the 10 reservations that fit
        assert meter.used == LIMIT
    else:
        assert 10 <= len(ok) <= 20, [a.status for a in answers]
        assert meter.used == len(ok) * (usage["input_tokens"] * IN_PRICE + usage["output_tokens"] * OUT_PRICE)
    assert peaks["held"] <= LIMIT  # admission never let reservations pass the limit
    assert peaks["used"] <= LIMIT + RESERVATION
    assert meter.used <= LIMIT and meter.reserved == 0  # after all finish the budget is not over
