"""Governance routing by key: a bare model picks among the key's provider_configs by weight, the others follow as
fallbacks by descending weight; an explicit provider/model goes only there."""

from __future__ import annotations

import asyncio
import math
import random

import openai
import pytest

from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_message,
    assert_anthropic_error,
    assert_openai_error,
    openai_completion,
)
from gateway_plugins.governance.lifecycle import GOVERNANCE
from tests.conftest import MakeGateway
from tests.http.governance_helpers import UP_CHAT, UP_MESSAGES, VK_A, X_CHAT, X, chat, config, messages, vk

CALLS = 400


async def test_bare_model_is_split_by_weight(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("from openai")))
    configs = [{"provider": "mock", "weight": 3}, {"provider": "openai", "weight": 1}]
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, provider_configs=configs)))
    gw.app[GOVERNANCE].rng = random.Random(20_251_126)  # reproducible; the bound below holds for any seed
    served: list[str] = []
    async with gw.openai(api_key=VK_A) as client:
        for _ in range(CALLS // 50):
            batch = [client.chat.completions.create(model="gpt-x", max_tokens=8, messages=X_CHAT) for _ in range(50)]
            served += [c.choices[0].message.content or "" for c in await asyncio.gather(*batch)]
    by_openai = served.count("from openai")
    by_mock = sum(text.startswith("Mock reply to:") for text in served)
    assert by_openai + by_mock == CALLS
    assert len(fake_upstream.requests_to(UP_CHAT)) == by_openai
    assert {r.json["model"] for r in fake_upstream.requests_to(UP_CHAT)} == {"gpt-x"}
    expected, sigma = CALLS / 4, math.sqrt(CALLS * 0.25 * 0.75)  # 100 +- 8.7
    assert abs(by_openai - expected) <= 5 * sigma, (by_openai, by_mock)


async def test_failed_first_provider_falls_back_by_descending_weight(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """openai (5) and anthropic (3) both fail, mock (1) is last: whichever is drawn first, the other heavier one
    is tried next and mock serves only once both failed."""
    fake_upstream.default(UP_CHAT, Reply.error(500, "server_error", "openai is down", dialect="openai"))
    fake_upstream.default(UP_MESSAGES, Reply.error(500, "api_error", "anthropic is down", dialect="anthropic"))
    configs = [
        {"provider": "mock", "weight": 1},
        {"provider": "openai", "weight": 5},
        {"provider": "anthropic", "weight": 3},
    ]
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, provider_configs=configs)))
    gw.app[GOVERNANCE].rng = random.Random(7)
    orders: list[tuple[str, ...]] = []
    async with gw.openai(api_key=VK_A) as client:
        for _ in range(60):
            before = len(fake_upstream.requests)
            completion = await client.chat.completions.create(model="some-model", max_tokens=8, messages=X_CHAT)
            assert (completion.choices[0].message.content or "").startswith("Mock reply to:")
            orders.append(tuple(r.path for r in fake_upstream.requests[before:]))
    assert set(orders) <= {(), (UP_CHAT, UP_MESSAGES), (UP_MESSAGES, UP_CHAT)}, orders
    assert all(orders.count(order) > 0 for order in ((), (UP_CHAT, UP_MESSAGES), (UP_MESSAGES, UP_CHAT))), orders


async def test_fallback_serves_the_call_when_the_first_provider_fails(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_CHAT, Reply.error(500, "server_error", "openai is down", dialect="openai"))
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("from anthropic")))
    configs = [{"provider": "openai", "weight": 1000}, {"provider": "anthropic", "weight": 0.001}]
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, provider_configs=configs)))
    gw.app[GOVERNANCE].rng = random.Random(1)
    async with gw.anthropic(api_key=VK_A) as client:
        for _ in range(5):
            message = await client.messages.create(model="claude-x", max_tokens=8, messages=X)
            assert message.content[0].text == "from anthropic"  # type: ignore[union-attr]
    assert len(fake_upstream.requests_to(UP_CHAT)) == 5  # tried first every time
    assert [r.json["model"] for r in fake_upstream.requests_to(UP_MESSAGES)] == ["claude-x"] * 5


async def test_explicit_provider_model_goes_only_to_that_provider(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_CHAT, Reply.error(500, "server_error", "openai is down", dialect="openai"))
    configs = [{"provider": "openai", "weight": 1}, {"provider": "mock", "weight": 100}]
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, provider_configs=configs)))
    async with gw.openai(api_key=VK_A) as client:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="openai/gpt-x", max_tokens=8, messages=X_CHAT)
        completion = await client.chat.completions.create(model="mock/gpt-x", max_tokens=8, messages=X_CHAT)
    assert (completion.choices[0].message.content or "").startswith("Mock reply to:")
    assert len(fake_upstream.requests_to(UP_CHAT)) == 1  # no fallback to mock for an explicit target
    async with gw.http(None) as raw:  # and an explicit provider must be one of the key's
        assert_anthropic_error(await messages(raw, VK_A, "anthropic/claude-x"), 403, "permission_error", "anthropic")
        assert_openai_error(await chat(raw, VK_A, "anthropic/claude-x"), 403, "permission_error", "anthropic")
    assert not fake_upstream.requests_to(UP_MESSAGES)


async def test_bare_model_goes_only_to_configs_that_allow_it(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("from openai")))
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("from anthropic")))
    configs = [
        {"provider": "openai", "weight": 1, "allowed_models": ["gpt-x"]},
        {"provider": "anthropic", "weight": 1, "allowed_models": ["claude-x"]},
        {"provider": "mock", "weight": 1, "allowed_models": ["mock-only"]},
    ]
    gw = await make_gateway(config(fake_upstream.url, vk("vk-a", VK_A, provider_configs=configs)))
    async with gw.openai(api_key=VK_A) as client:
        for _ in range(10):
            gpt = await client.chat.completions.create(model="gpt-x", max_tokens=8, messages=X_CHAT)
            claude = await client.chat.completions.create(model="claude-x", max_tokens=8, messages=X_CHAT)
            assert gpt.choices[0].message.content == "from openai"
            assert claude.choices[0].message.content == "from anthropic"
    assert len(fake_upstream.requests_to(UP_CHAT)) == len(fake_upstream.requests_to(UP_MESSAGES)) == 10
