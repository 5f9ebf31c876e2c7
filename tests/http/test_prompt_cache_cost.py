"""Cached usage and its cost, both client dialects, stream and not, from both upstream wires: cache reads and
writes are reported once (OpenAI's `prompt_tokens` includes them, its `cached_tokens` names the reads), and
governance prices them at the cache rates (reads 0.1x, or 0.5x for OpenAI, 5-minute writes 1.25x, 1-hour writes 2x
of the input price unless the table says otherwise), never at the full input price and never twice."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    openai_completion,
    openai_sse,
    openai_usage,
)
from tests.conftest import Gateway, MakeGateway
from tests.http.governance_helpers import (
    UP_CHAT,
    UP_MESSAGES,
    VK_A,
    X_CHAT,
    X,
    budget,
    config,
    providers,
    settled,
    used,
    vk,
)

IN, OUT = 1e-6, 2e-6
CLAUDE, CLAUDE_PRICED, GPT, GPT_D = "anthropic/claude-d", "anthropic/claude-p", "openai/gpt-x", "openai/gpt-d"
PRICES: dict[str, Any] = {
    CLAUDE: {"input_cost_per_token": IN, "output_cost_per_token": OUT},  # the default cache rates
    CLAUDE_PRICED: {
        "input_cost_per_token": IN,
        "output_cost_per_token": OUT,
        "cache_read_input_token_cost": 3e-7,
        "cache_creation_input_token_cost": 5e-6,
        "cache_creation_input_token_cost_above_1hr": 7e-6,
    },
    GPT: {"input_cost_per_token": IN, "output_cost_per_token": OUT, "cache_read_input_token_cost": 4e-7},
    GPT_D: {"input_cost_per_token": IN, "output_cost_per_token": OUT},  # OpenAI's default: reads at half price
}
# 1000 uncached, 4000 read, 300 written of which 100 for an hour; 500 out.
ANTHROPIC_CACHED = anthropic_usage(
    1000, 500, cache_read_input_tokens=4000, cache_creation_input_tokens=300, ephemeral_1h_input_tokens=100
)
COST = {
    CLAUDE: 1000 * IN + 4000 * 0.1 * IN + 200 * 1.25 * IN + 100 * 2 * IN + 500 * OUT,
    CLAUDE_PRICED: 1000 * IN + 4000 * 3e-7 + 200 * 5e-6 + 100 * 7e-6 + 500 * OUT,
    GPT: 600 * IN + 400 * 4e-7 + 500 * OUT,  # prompt_tokens 1000 of which 400 cached
    GPT_D: 600 * IN + 400 * 0.5 * IN + 500 * OUT,
}
OPENAI_CACHED = openai_usage(1000, 500, cached_tokens=400)
METER = "budget:vk:vk-a:0"


async def governed(make_gateway: MakeGateway, fake: FakeUpstream) -> Gateway:
    key = vk("vk-a", VK_A, budgets=[budget(100.0)], provider_configs=providers("anthropic", "openai"))
    return await make_gateway(config(fake.url, key, pricing=PRICES))


def answer(fake: FakeUpstream, stream: bool) -> None:
    if stream:
        fake.default(UP_MESSAGES, Reply.sse(anthropic_sse(("o", "k"), usage=ANTHROPIC_CACHED)))
        fake.default(UP_CHAT, Reply.sse(openai_sse(("o", "k"), usage=OPENAI_CACHED)))
    else:
        fake.default(UP_MESSAGES, Reply.json(anthropic_message("ok", usage=ANTHROPIC_CACHED)))
        fake.default(UP_CHAT, Reply.json(openai_completion("ok", usage=OPENAI_CACHED)))


async def anthropic_usage_seen(gw: Gateway, model: str, stream: bool) -> tuple[int, int, int, int]:
    async with gw.anthropic(api_key=VK_A) as client:
        if stream:
            async with client.messages.stream(model=model, max_tokens=600, messages=X) as events:
                u = (await events.get_final_message()).usage
        else:
            u = (await client.messages.create(model=model, max_tokens=600, messages=X)).usage
    return u.input_tokens, u.cache_read_input_tokens or 0, u.cache_creation_input_tokens or 0, u.output_tokens


async def openai_usage_seen(gw: Gateway, model: str, stream: bool) -> tuple[int, int, int]:
    async with gw.openai(api_key=VK_A) as client:
        if stream:
            chunks = await client.chat.completions.create(
                model=model, max_tokens=600, messages=X_CHAT, stream=True, stream_options={"include_usage": True}
            )
            usages = [chunk.usage async for chunk in chunks if chunk.usage is not None]
            assert len(usages) == 1  # reported once, in the last chunk
            usage = usages[0]
        else:
            completion = await client.chat.completions.create(model=model, max_tokens=600, messages=X_CHAT)
            assert completion.usage is not None
            usage = completion.usage
    assert usage.prompt_tokens_details is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    return usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens or 0, usage.completion_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", [CLAUDE, CLAUDE_PRICED, GPT, GPT_D])
async def test_anthropic_client_sees_and_pays_cache_tokens_once(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, model: str, stream: bool
) -> None:
    answer(fake_upstream, stream)
    gw = await governed(make_gateway, fake_upstream)
    seen = await anthropic_usage_seen(gw, model, stream)
    assert seen == ((600, 400, 0, 500) if model in (GPT, GPT_D) else (1000, 4000, 300, 500))
    await settled(gw)
    assert used(gw, METER) == pytest.approx(COST[model], rel=1e-9)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", [CLAUDE, CLAUDE_PRICED, GPT, GPT_D])
async def test_openai_client_sees_and_pays_cache_tokens_once(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, model: str, stream: bool
) -> None:
    answer(fake_upstream, stream)
    gw = await governed(make_gateway, fake_upstream)
    seen = await openai_usage_seen(gw, model, stream)
    # OpenAI's prompt_tokens includes the cached reads and (for an Anthropic upstream) the cache writes.
    assert seen == ((1000, 400, 500) if model in (GPT, GPT_D) else (5300, 4000, 500))
    await settled(gw)
    assert used(gw, METER) == pytest.approx(COST[model], rel=1e-9)
