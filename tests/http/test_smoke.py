"""The shortest end-to-end paths: each official SDK, streaming and not, through each kind of provider."""

from __future__ import annotations

from gateway.testing import FakeUpstream, Reply, anthropic_message, anthropic_sse, openai_sse
from tests.conftest import ANTHROPIC_KEY, CLIENT_KEY, OPENAI_KEY, Gateway, MakeGateway, upstream_config


async def test_anthropic_sdk_passthrough_to_anthropic(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("Hello there")))
    async with gateway.anthropic() as client:
        message = await client.messages.create(
            model="claude-x", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    assert message.content[0].text == "Hello there"  # type: ignore[union-attr]
    sent = fake_upstream.requests_to("/v1/messages")[0]
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert CLIENT_KEY not in str(sent.headers)


async def test_anthropic_sdk_stream_to_openai(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("/v1/chat/completions", Reply.sse(openai_sse(("Hel", "lo", "!"))))
    async with gateway.anthropic() as client:
        async with client.messages.stream(
            model="openai/gpt-x", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
    assert text == "Hello!"
    assert final.stop_reason == "end_turn"
    sent = fake_upstream.requests_to("/v1/chat/completions")[0]
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.json["model"] == "gpt-x"


async def test_openai_sdk_to_anthropic(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("From Claude")))
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(
            model="anthropic/claude-x", messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == "From Claude"
    assert completion.model == "anthropic/claude-x"


async def test_openai_sdk_stream_passthrough(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("/v1/chat/completions", Reply.sse(openai_sse(("a", "b"))))
    async with gateway.openai() as client:
        stream = await client.chat.completions.create(
            model="openai/gpt-x", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "ab"


async def test_anthropic_stream_passthrough_relays_bytes(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = anthropic_sse(("x", "y"))
    fake_upstream.script("/v1/messages", Reply.sse(frames))
    async with gateway.anthropic() as client:
        async with client.messages.with_streaming_response.create(
            model="claude-x", max_tokens=10, messages=[{"role": "user", "content": "hi"}], stream=True
        ) as response:
            body = await response.read()
    assert body == b"".join(frames)


async def test_claude_code_style_base_url_routes_bare_models_to_anthropic(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    """ANTHROPIC_BASE_URL=http://host:port makes the SDK post to /v1/messages with a bare Claude model."""
    import anthropic

    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("hi from claude")))
    async with anthropic.AsyncAnthropic(base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0) as client:
        message = await client.messages.create(
            model="claude-x-latest", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
        models = [m.id async for m in client.models.list()]
    assert message.content[0].text == "hi from claude"  # type: ignore[union-attr]
    assert fake_upstream.requests_to("/v1/messages")[0].json["model"] == "claude-x-latest"
    assert "mock/mock-claude" in models


async def test_an_openai_client_without_a_cap_sends_none_where_the_provider_needs_none(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """Anthropic needs max_tokens (client.default_max_tokens fills it); Gemini does not, so none is invented."""
    from tests.fakes.gemini import gemini_response, generate_path

    config = upstream_config(fake_upstream.url, default_max_tokens=1234)
    config["providers"]["gemini"] = {"keys": [{"value": "g"}], "network_config": {"base_url": fake_upstream.url}}
    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("a")))
    fake_upstream.script(generate_path("gemini-x"), Reply.json(gemini_response("g")))
    gw = await make_gateway(config)
    async with gw.openai() as client:
        for model in ("anthropic/claude-x", "gemini/gemini-x"):
            await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert fake_upstream.requests_to("/v1/messages")[0].json["max_tokens"] == 1234
    assert "maxOutputTokens" not in fake_upstream.requests_to(generate_path("gemini-x"))[0].json.get(
        "generationConfig", {}
    )
