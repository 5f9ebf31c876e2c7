"""Governance, what a key may do: every denial (provider, model, request and token rate limits, budgets at the key,
provider-config, team and customer levels) in each dialect's shape, and team/customer budgets shared by keys."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_message,
    anthropic_usage,
    assert_anthropic_error,
    assert_openai_error,
)
from tests.conftest import Gateway, MakeGateway
from tests.http.governance_helpers import (
    CLAUDE,
    GPT,
    UP_CHAT,
    UP_MESSAGES,
    VK_A,
    VK_B,
    X_CHAT,
    X,
    answer_everything,
    budget,
    chat,
    config,
    messages,
    providers,
    settled,
    use_clock,
    used,
    vk,
)


async def test_provider_not_in_the_keys_configs_is_403_naming_it(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    key = vk("vk-a", VK_A, provider_configs=providers("openai"))
    gw = await make_gateway(config(fake_upstream.url, key))
    async with gw.http(None) as raw:
        assert_anthropic_error(await messages(raw, VK_A, CLAUDE), 403, "permission_error", "provider 'anthropic'")
        assert_openai_error(await chat(raw, VK_A, "mock/mock-gpt"), 403, "permission_error", "provider 'mock'")
        assert (await chat(raw, VK_A, GPT)).status == 200
    async with gw.anthropic(api_key=VK_A) as client:
        with pytest.raises(anthropic.PermissionDeniedError) as caught:
            await client.messages.create(model=CLAUDE, max_tokens=16, messages=X)
    assert "provider 'anthropic'" in caught.value.message
    assert caught.value.request_id is not None and caught.value.request_id.startswith("req_")
    assert not fake_upstream.requests_to(UP_MESSAGES)


async def test_model_not_in_allowed_models_is_403_naming_it(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    configs = [{"provider": "openai", "allowed_models": ["gpt-x"]}, {"provider": "anthropic", "allowed_models": []}]
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, provider_configs=configs)))
    async with gw.http(None) as raw:
        assert_openai_error(await chat(raw, VK_A, "openai/gpt-y"), 403, "permission_error", "model 'gpt-y'")
        assert_anthropic_error(await messages(raw, VK_A, CLAUDE), 403, "permission_error", "model 'claude-x'")
        assert_openai_error(await chat(raw, VK_A, "gpt-z"), 403, "permission_error", "model 'gpt-z'")  # bare
        assert (await chat(raw, VK_A, GPT)).status == 200
        assert (await chat(raw, VK_A, "gpt-x")).status == 200  # bare, and only openai allows it
    async with gw.openai(api_key=VK_A) as client:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            await client.chat.completions.create(model="openai/gpt-y", max_tokens=16, messages=X_CHAT)
    assert "gpt-y" in caught.value.message
    assert caught.value.request_id is not None and caught.value.request_id.startswith("req_")
    assert [r.json["model"] for r in fake_upstream.requests] == ["gpt-x", "gpt-x"]


async def test_request_rate_limit_is_429_with_retry_after_to_the_windows_end(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    limit = {"request_max_limit": 2, "request_reset_duration": "1m"}
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, rate_limit=limit)))
    use_clock(gw, 1_700_000_040 + 15)  # fixed 1m windows on epoch multiples: this one ends at ...100
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        assert (await chat(raw, VK_A)).status == 200
        denied = await messages(raw, VK_A)
        assert_anthropic_error(denied, 429, "rate_limit_error", "request rate limit", "virtual key 'vk-a'")
        assert denied.headers["retry-after"] == "45"
        denied = await chat(raw, VK_A)
        assert_openai_error(denied, 429, "rate_limit_error", "request rate limit", code="rate_limit_exceeded")
        assert denied.headers["retry-after"] == "45"
    async with gw.anthropic(api_key=VK_A) as client:
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(model=CLAUDE, max_tokens=16, messages=X)
    assert caught.value.response.headers["retry-after"] == "45"
    assert len(fake_upstream.requests) == 2
    assert used(gw, "requests:vk:vk-a") == 2  # denied calls do not count


async def test_provider_config_request_rate_limit_names_the_provider(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream)
    limited = {"provider": "anthropic", "rate_limit": {"request_max_limit": 1, "request_reset_duration": "1h"}}
    key = vk("vk-a", VK_A, provider_configs=[limited, *providers("openai")])
    gw = await make_gateway(config(fake_upstream.url, key))
    clock = use_clock(gw, 1_800_000_000 + 600)  # 1h windows: this one ends 3000 s later
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        denied = await messages(raw, VK_A)
        assert_anthropic_error(denied, 429, "rate_limit_error", "provider 'anthropic'")
        assert denied.headers["retry-after"] == "3000"
        assert (await chat(raw, VK_A)).status == 200  # the key's other provider is not limited
        clock.advance(3000)
        assert (await messages(raw, VK_A)).status == 200


async def test_token_rate_limit_counts_reported_tokens_and_is_429(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    usage = anthropic_usage(100, 800, cache_read_input_tokens=50, cache_creation_input_tokens=40)  # 990 tokens
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=usage)))
    limit = {"token_max_limit": 1000, "token_reset_duration": "1m"}
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, rate_limit=limit)))
    use_clock(gw, 1_700_000_040 + 50)
    async with gw.http(None) as raw:
        too_big = await messages(raw, VK_A, max_tokens=1000)  # its reservation alone is over the limit
        assert_anthropic_error(too_big, 429, "rate_limit_error", "token rate limit")
        assert (await messages(raw, VK_A, max_tokens=16)).status == 200
        await settled(gw)
        assert used(gw, "tokens:vk:vk-a") == 990
        denied = await chat(raw, VK_A, CLAUDE, max_tokens=16)
        assert_openai_error(denied, 429, "rate_limit_error", "token rate limit", "virtual key 'vk-a'")
        assert denied.headers["retry-after"] == "10"
    assert len(fake_upstream.requests) == 1


# --- budgets at each level ----------------------------------------------------------------------------------

EXPENSIVE = anthropic_usage(10, 10_000)  # 10 x 1e-6 + 10_000 x 2e-6 = $0.02001, over a $0.01 budget


def leveled(level: str, max_limit: float = 0.01) -> dict[str, Any]:
    """Config parts with one $0.01 budget at `level`, for key vk-a (team t-1 of customer c-1)."""
    spent = [budget(max_limit)]
    key: dict[str, Any] = {"team_id": "t-1", "budgets": spent if level == "key" else []}
    anthropic_config = {"provider": "anthropic", "budgets": spent if level == "provider" else []}
    key["provider_configs"] = [anthropic_config, *providers("openai")]
    team = {"id": "t-1", "name": "Team One", "customer_id": "c-1", "budgets": spent if level == "team" else []}
    customer = {"id": "c-1", "name": "Customer One", "budgets": spent if level == "customer" else []}
    return {"key": vk("vk-a", VK_A, **key), "teams": [team], "customers": [customer]}


LEVELS = [
    pytest.param("key", "budget of virtual key 'vk-a'", id="key"),
    pytest.param("provider", "budget of provider 'anthropic' of virtual key 'vk-a'", id="provider-config"),
    pytest.param("team", "budget of team 'Team One'", id="team"),
    pytest.param("customer", "budget of customer 'Customer One'", id="customer"),
]


@pytest.mark.parametrize(("level", "named"), LEVELS)
async def test_exhausted_budget_is_402_naming_its_level(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, level: str, named: str
) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    parts = leveled(level)
    gw = await make_gateway(config(fake_upstream.url, parts["key"], teams=parts["teams"], customers=parts["customers"]))
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        assert_anthropic_error(await messages(raw, VK_A), 402, "billing_error", named, "exhausted")
        denied = await chat(raw, VK_A, CLAUDE)
        assert_openai_error(denied, 402, "insufficient_quota", named, code="insufficient_quota")
    async with gw.anthropic(api_key=VK_A) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await client.messages.create(model=CLAUDE, max_tokens=16, messages=X)
    assert caught.value.status_code == 402
    assert caught.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
    async with gw.openai(api_key=VK_A) as client:
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(model=CLAUDE, max_tokens=16, messages=X_CHAT)
    assert raised.value.status_code == 402 and raised.value.code == "insufficient_quota"
    assert len(fake_upstream.requests) == 1


async def test_a_call_whose_reservation_does_not_fit_is_refused_before_the_upstream(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """Nothing spent yet, but max_tokens priced at output rates is more than the budget: 402 at admission."""
    answer_everything(fake_upstream)
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, budgets=[budget(0.001)])))
    async with gw.http(None) as raw:
        denied = await messages(raw, VK_A, max_tokens=1000)  # 1000 x 2e-6 = $0.002
        assert_anthropic_error(denied, 402, "billing_error", "budget of virtual key 'vk-a'")
        assert (await messages(raw, VK_A, max_tokens=100)).status == 200
    assert len(fake_upstream.requests) == 1


async def test_exhausted_provider_budget_leaves_the_keys_other_providers_open(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    answer_everything(fake_upstream, anthropic=EXPENSIVE)
    parts = leveled("provider")
    gw = await make_gateway(config(fake_upstream.url, parts["key"], teams=parts["teams"], customers=parts["customers"]))
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        assert (await messages(raw, VK_A)).status == 402
        assert (await chat(raw, VK_A, GPT)).status == 200
    assert len(fake_upstream.requests_to(UP_CHAT)) == 1


# --- team and customer budgets are shared by their keys -----------------------------------------------------


async def spend_through_a_then_b_is_refused(gw: Gateway, named: str) -> None:
    async with gw.http(None) as raw:
        assert (await messages(raw, VK_B)).status == 200  # B is open before A spends
        await settled(gw)
        assert (await messages(raw, VK_A)).status == 200
        await settled(gw)
        assert_anthropic_error(await messages(raw, VK_B), 402, "billing_error", named)
        assert_openai_error(await chat(raw, VK_B, CLAUDE), 402, "insufficient_quota", named)
        assert_anthropic_error(await messages(raw, VK_A), 402, "billing_error", named)


async def test_team_budget_is_shared_by_its_keys(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("cheap", usage=anthropic_usage(10, 10))))
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    team = {"id": "t-1", "name": "Shared Team", "budgets": [budget(0.01, "1d")]}
    keys = vk("vk-a", VK_A, team_id="t-1"), vk("vk-b", VK_B, team_id="t-1")
    gw = await make_gateway(config(fake_upstream.url, *keys, teams=[team]))
    await spend_through_a_then_b_is_refused(gw, "budget of team 'Shared Team'")
    assert used(gw, "budget:team:t-1:0") == pytest.approx(0.02001 + 10e-6 + 20e-6)


async def test_customer_budget_is_shared_by_its_keys_and_its_teams_keys(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(UP_MESSAGES, Reply.json(anthropic_message("cheap", usage=anthropic_usage(10, 10))))
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=EXPENSIVE)))
    customer = {"id": "c-1", "name": "Shared Customer", "budgets": [budget(0.01)]}
    team = {"id": "t-2", "customer_id": "c-1"}  # key B belongs to the customer through its team
    keys = vk("vk-a", VK_A, customer_id="c-1"), vk("vk-b", VK_B, team_id="t-2")
    gw = await make_gateway(config(fake_upstream.url, *keys, teams=[team], customers=[customer]))
    await spend_through_a_then_b_is_refused(gw, "budget of customer 'Shared Customer'")
