"""Governance windows with an injected clock: fixed rate-limit windows on epoch multiples, budgets that reset every
reset_duration from the entry's creation, and calendar-aligned budgets that reset at UTC boundaries."""

from __future__ import annotations

import pytest

from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_message,
    anthropic_usage,
    assert_anthropic_error,
    assert_openai_error,
)
from tests.conftest import MakeGateway
from tests.http.governance_helpers import (
    UP_MESSAGES,
    VK_A,
    answer_everything,
    budget,
    chat,
    config,
    messages,
    meters,
    settled,
    use_clock,
    utc,
    vk,
)

EXPENSIVE = anthropic_usage(10, 10_000)  # $0.02001 at the test prices: over a $0.01 budget in one call
DAY = 86_400


async def test_request_limit_blocks_the_third_call_until_the_window_ends(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    limit = {"request_max_limit": 2, "request_reset_duration": "1m"}
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, rate_limit=limit)))
    start = 1_700_000_040  # a multiple of 60
    clock = use_clock(gw, start + 30)
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        assert (await messages(raw, VK_A)).status == 200
        assert_anthropic_error(await messages(raw, VK_A), 429, "rate_limit_error")
        clock.now = start + 59.9  # still the same fixed window
        denied = await chat(raw, VK_A)
        assert_openai_error(denied, 429, "rate_limit_error")
        assert denied.headers["retry-after"] == "1"
        clock.now = start + 60  # the next window
        assert (await messages(raw, VK_A)).status == 200
        assert (await chat(raw, VK_A)).status == 200
        assert_anthropic_error(await messages(raw, VK_A), 429, "rate_limit_error")
    assert len(fake_upstream.requests) == 4


async def test_token_limit_frees_up_in_the_next_window(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=anthropic_usage(500, 500))))
    limit = {"token_max_limit": 1000, "token_reset_duration": "5m"}
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, rate_limit=limit)))
    start = 1_700_000_100  # a multiple of 300
    clock = use_clock(gw, start + 10)
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        denied = await messages(raw, VK_A)
        assert_anthropic_error(denied, 429, "rate_limit_error", "token rate limit")
        assert denied.headers["retry-after"] == "290"
        clock.now = start + 300
        assert (await messages(raw, VK_A)).status == 200


async def test_daily_budget_resets_a_day_after_the_keys_creation(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, budgets=[budget(0.01, "1d")])))
    clock = use_clock(gw)  # starts at the real time: the key was created a moment ago
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        assert_anthropic_error(await messages(raw, VK_A), 402, "billing_error", "1d budget")
        meter = meters(gw)["budget:vk:vk-a:0"]
        assert meter.window_end - meter.window_start == DAY
        assert meter.window_start <= clock.now < meter.window_end
        assert clock.now - meter.window_start < 60  # counted from the key's creation, not from midnight
        end = meter.window_end
        clock.now = end - 1
        assert_anthropic_error(await messages(raw, VK_A), 402, "billing_error")
        clock.now = end
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        assert_anthropic_error(await messages(raw, VK_A), 402, "billing_error")  # spent again in the new day
        clock.now = end + DAY + 5
        assert (await messages(raw, VK_A)).status == 200
    assert len(fake_upstream.requests) == 3


async def test_calendar_aligned_monthly_budget_resets_on_the_first_utc(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    monthly = budget(0.01, "1M", calendar_aligned=True)
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, budgets=[monthly])))
    clock = use_clock(gw, utc("2031-01-31T12:00:00"))
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        assert_anthropic_error(await messages(raw, VK_A), 402, "billing_error", "1M budget")
        meter = meters(gw)["budget:vk:vk-a:0"]
        assert (meter.window_start, meter.window_end) == (utc("2031-01-01T00:00:00"), utc("2031-02-01T00:00:00"))
        clock.now = utc("2031-01-31T23:59:59")
        assert_anthropic_error(await messages(raw, VK_A), 402, "billing_error")
        clock.now = utc("2031-02-01T00:00:00")
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        assert (meter.window_start, meter.window_end) == (utc("2031-02-01T00:00:00"), utc("2031-03-01T00:00:00"))
        assert_anthropic_error(await messages(raw, VK_A), 402, "billing_error")
        clock.now = utc("2031-03-01T00:00:01")  # February is short
        assert (await messages(raw, VK_A)).status == 200
    assert len(fake_upstream.requests) == 3


CALENDAR = [  # (reset_duration, spend at, last second of that period, first second of the next)
    pytest.param("1d", "2031-06-15T23:00:00", "2031-06-15T23:59:59", "2031-06-16T00:00:00", id="day-midnight"),
    pytest.param("1w", "2031-06-18T08:00:00", "2031-06-22T23:59:59", "2031-06-23T00:00:00", id="week-monday"),
    pytest.param("1Y", "2031-03-10T08:00:00", "2031-12-31T23:59:59", "2032-01-01T00:00:00", id="year-january"),
]


@pytest.mark.parametrize(("duration", "spend", "last", "first"), CALENDAR)
async def test_calendar_aligned_budgets_reset_at_utc_boundaries(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, duration: str, spend: str, last: str, first: str
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    team = {"id": "t-1", "budgets": [budget(0.01, duration, calendar_aligned=True)]}
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, team_id="t-1"), teams=[team]))
    clock = use_clock(gw, utc(spend))
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        clock.now = utc(last)
        assert_anthropic_error(await messages(raw, VK_A), 402, "billing_error", f"{duration} budget of team 't-1'")
        clock.now = utc(first)
        assert (await messages(raw, VK_A)).status == 200
    assert len(fake_upstream.requests) == 2
