"""A bare model on the /v1 routes, with several providers and no key naming it, goes to the first provider the
model catalog knows it for: the OpenAI SDK can ask for `claude-sonnet-4-5` and the Anthropic one for `gpt-4o-mini`
with no `provider/` prefix. A model the catalog does not know is still the 400 that says how to name one."""

from __future__ import annotations

from typing import Any

from gateway.testing import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    FakeUpstream,
    MakeGateway,
    Reply,
    anthropic_message,
    assert_openai_error,
    openai_completion,
)


def both(url: str, **custom: Any) -> dict[str, Any]:
    net = {"network_config": {"base_url": url}}
    providers = {
        "anthropic": {"keys": [{"name": "a", "value": ANTHROPIC_KEY}], **net},
        "openai": {"keys": [{"name": "o", "value": OPENAI_KEY}], **net},
    }
    return {"providers": providers | custom}


async def test_the_catalog_routes_bare_models(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("from claude")))
    fake_upstream.script("/v1/chat/completions", Reply.json(openai_completion("from gpt")))
    gw = await make_gateway(both(fake_upstream.url))
    async with gw.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
        gpt = await client.chat.completions.create(
            model="gpt-4o-mini", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert raw.parse().choices[0].message.content == "from claude"
    assert raw.headers["x-bf-provider"] == "anthropic"
    assert gpt.choices[0].message.content == "from gpt"
    assert fake_upstream.requests_to("/v1/messages")[0].json["model"] == "claude-sonnet-4-5"
    assert fake_upstream.requests_to("/v1/chat/completions")[0].json["model"] == "gpt-4o-mini"


async def test_a_custom_providers_corrections_route_its_models(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """A self-hosted server's own model, declared in its `models`, is found by name on /v1."""
    fake_upstream.script("/v1/chat/completions", Reply.json(openai_completion("from vllm")))
    vllm = {
        "keys": [{"name": "v", "value": "sk-vllm"}],
        "custom_provider_config": {"base_provider_type": "openai"},
        "network_config": {"base_url": fake_upstream.url},
        "models": {"in-house-coder": {"context_window": 32768}},
    }
    gw = await make_gateway(both(fake_upstream.url, vllm=vllm))
    async with gw.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="in-house-coder", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert raw.headers["x-bf-provider"] == "vllm"
    assert raw.parse().choices[0].message.content == "from vllm"


async def test_a_model_the_catalog_does_not_know_is_still_a_400(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(both(fake_upstream.url))
    async with gw.http() as http:
        answer = await http.post("/v1/chat/completions", {"model": "no-such-model-7", "messages": []})
    assert_openai_error(answer, 400, "invalid_request_error", "no provider serves model 'no-such-model-7'")
    assert fake_upstream.requests == []
