"""An OpenAI client that sets no output cap: the OpenAI and Gemini providers then send none, and the model may
write up to its own limit, so the reservation holds that limit (the catalog's) at the output price, not the
`client.default_max_tokens` the gateway only sends to Anthropic-wire upstreams."""

from __future__ import annotations

from gateway.testing import FakeUpstream, Reply, assert_openai_error, openai_body, openai_completion
from tests.conftest import MakeGateway
from tests.http.governance_helpers import CHAT, VK_A, bearer, budget, config, vk

MINI = "openai/gpt-4o-mini"  # 16,384 output tokens at $0.60 per million: $0.0098 worst case
BUDGET = 0.005  # above 4,096 tokens' worth ($0.0025), below the model's limit's


def gateway_config(url: str) -> dict[str, object]:
    return config(url, vk("vk-a", VK_A, budgets=[budget(BUDGET)]))


async def test_no_cap_reserves_the_models_output_limit(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(gateway_config(fake_upstream.url))
    uncapped = openai_body(MINI, "hi")
    uncapped.pop("max_tokens", None)
    uncapped.pop("max_completion_tokens", None)
    async with gw.http(None) as http:
        denied = await http.post(CHAT, uncapped, headers=bearer(VK_A))
    assert_openai_error(denied, 402, "insufficient_quota", "budget")
    assert fake_upstream.requests == []  # refused before the upstream could write 16,384 tokens


async def test_a_cap_within_the_budget_is_served(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion("ok")))
    gw = await make_gateway(gateway_config(fake_upstream.url))
    capped = openai_body(MINI, "hi", max_tokens=1000)
    async with gw.http(None) as http:
        answer = await http.post(CHAT, capped, headers=bearer(VK_A))
    assert answer.status == 200, answer.body
    assert "max_completion_tokens" in fake_upstream.requests[0].json or "max_tokens" in fake_upstream.requests[0].json
