"""examples/model_aliases.py, a plugin loaded by import path, routes an alias with fallbacks."""

from __future__ import annotations

from gateway.testing import FakeUpstream, Reply, openai_completion
from tests.conftest import MakeGateway, upstream_config


async def test_example_plugin_routes_an_alias_with_fallback(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    config = upstream_config(fake_upstream.url)
    config["plugins"] = [
        {
            "name": "model_aliases",
            "path": "examples.model_aliases",
            "config": {"aliases": {"fast": ["anthropic/claude-down", "openai/gpt-up"]}},
        }
    ]
    fake_upstream.script("/v1/messages", Reply.error(503, "overloaded_error", "busy", dialect="anthropic"))
    fake_upstream.script("/v1/chat/completions", Reply.json(openai_completion("served by fallback")))
    gw = await make_gateway(config)
    async with gw.openai() as client:
        answer = await client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "served by fallback"
    assert fake_upstream.requests_to("/v1/messages")[0].json["model"] == "claude-down"
    assert fake_upstream.requests_to("/v1/chat/completions")[0].json["model"] == "gpt-up"
