"""OpenAI clients in front of an OpenAI upstream: relayed bodies, routing of model names, relayed streams."""

from __future__ import annotations

import json

import openai
from openai.types.chat import ChatCompletion

from gateway.testing import (
    FakeUpstream,
    Reply,
    ToolUse,
    anthropic_message,
    openai_completion,
    openai_error_frame,
    openai_error_of,
    openai_sse,
    openai_usage,
    parse_sse,
)
from tests.conftest import CLIENT_KEY, OPENAI_KEY, Gateway, MakeGateway
from tests.http.openai_helpers import USER_HI, anthropic_provider, openai_provider, post_openai, without_usage_chunk

CHAT = "/v1/chat/completions"


async def test_chat_create_passthrough_returns_valid_completion(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    body = openai_completion("Bonjour", tool_calls=[ToolUse("call_9", "lookup", {"q": "x"})], usage=openai_usage(17, 5))
    fake_upstream.script(CHAT, Reply.json(body, headers={"x-request-id": "req_upstream_1"}))
    async with gateway.openai() as client:
        raw = await client.chat.completions.with_raw_response.create(model="openai/gpt-x", messages=USER_HI)
        completion = raw.parse()
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content == "Bonjour"
    assert completion.choices[0].message.tool_calls[0].id == "call_9"  # type: ignore[index]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None and completion.usage.total_tokens == 22
    # the upstream's answer is relayed as it came, request id included
    assert raw.content == json.dumps(body, separators=(",", ":")).encode()
    assert raw.headers["x-request-id"] == "req_upstream_1"
    sent = fake_upstream.requests_to(CHAT)[0]
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert CLIENT_KEY not in str(sent.headers)


async def test_chat_create_passthrough_rewrites_prefixed_model(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    async with gateway.openai() as client:
        await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI, temperature=0.5)
    sent = fake_upstream.requests_to(CHAT)[0].json
    assert sent["model"] == "gpt-x"
    assert sent["messages"] == USER_HI
    assert sent["temperature"] == 0.5
    assert "stream" not in sent and "stream_options" not in sent


async def test_chat_create_passthrough_relays_unknown_fields(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    async with gateway.openai() as client:
        await client.chat.completions.create(
            model="openai/gpt-x",
            messages=USER_HI,
            logprobs=True,
            top_logprobs=2,
            seed=7,
            extra_body={"x_vendor_knob": {"level": [1, 2.5, None]}},
        )
    sent = fake_upstream.requests_to(CHAT)[0].json
    assert sent["logprobs"] is True
    assert sent["top_logprobs"] == 2
    assert sent["seed"] == 7
    assert sent["x_vendor_knob"] == {"level": [1, 2.5, None]}


async def test_chat_create_passthrough_relays_n(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    """`n` has no Anthropic form, but an OpenAI upstream takes it: it must reach the upstream untouched."""
    body = openai_completion("one")
    body["choices"].append(
        {**body["choices"][0], "index": 1, "message": {**body["choices"][0]["message"], "content": "two"}}
    )
    fake_upstream.script(CHAT, Reply.json(body))
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI, n=2)
    assert [c.message.content for c in completion.choices] == ["one", "two"]
    assert fake_upstream.requests_to(CHAT)[0].json["n"] == 2


async def test_chat_create_openai_route_relays_request_bytes(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    """A bare model on /openai/v1 goes to the openai provider, and an unchanged body is relayed byte-exact."""
    fake_upstream.script(CHAT, Reply.json(openai_completion("plain")))
    request = b'{"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}], "weird":  [1,2]}'
    reply = await post_openai(gateway.url + "/openai/v1/chat/completions", request)
    assert reply.status == 200
    assert reply.json()["choices"][0]["message"]["content"] == "plain"
    sent = fake_upstream.requests_to(CHAT)[0]
    assert sent.body == request


async def test_chat_create_openai_route_with_sdk(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion("via prefix")))
    client = openai.AsyncOpenAI(base_url=gateway.url + "/openai/v1", api_key=CLIENT_KEY, max_retries=0)
    async with client:
        completion = await client.chat.completions.create(model="gpt-x", messages=USER_HI)
    assert completion.choices[0].message.content == "via prefix"
    assert fake_upstream.requests_to(CHAT)[0].json["model"] == "gpt-x"


async def test_routing_bare_model_by_key_models(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    openai_entry = openai_provider(fake_upstream.url, keys=[{"name": "o", "value": OPENAI_KEY, "models": ["gpt-q"]}])
    gw = await make_gateway({"providers": {"anthropic": anthropic_provider(fake_upstream.url), "openai": openai_entry}})
    fake_upstream.script(CHAT, Reply.json(openai_completion("routed")))
    async with gw.openai() as client:
        completion = await client.chat.completions.create(model="gpt-q", messages=USER_HI)
    assert completion.choices[0].message.content == "routed"
    assert fake_upstream.requests_to(CHAT)[0].json["model"] == "gpt-q"
    assert fake_upstream.requests_to("/v1/messages") == []


async def test_routing_bare_model_first_listing_provider_wins(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway
) -> None:
    listed = [{"name": "k", "value": "v", "models": ["shared"]}]
    gw = await make_gateway(
        {
            "providers": {
                "anthropic": anthropic_provider(fake_upstream.url, keys=listed),
                "openai": openai_provider(fake_upstream.url, keys=listed),
            }
        }
    )
    fake_upstream.script("/v1/messages", Reply.json(anthropic_message("from anthropic", model="shared")))
    async with gw.openai() as client:
        completion = await client.chat.completions.create(model="shared", messages=USER_HI)
    assert completion.choices[0].message.content == "from anthropic"
    assert fake_upstream.requests_to("/v1/messages")[0].json["model"] == "shared"
    assert fake_upstream.requests_to(CHAT) == []


async def test_routing_bare_model_unlisted_is_400(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gateway.openai() as client:
        try:
            await client.chat.completions.create(model="gpt-x", messages=USER_HI)
        except openai.BadRequestError as exc:
            error = exc
        else:
            raise AssertionError("a bare model nobody lists must be refused")
    assert error.status_code == 400
    assert "provider/model" in error.message and "(configured: anthropic, openai, mock)" in error.message
    assert isinstance(error.body, dict) and error.body["param"] == "model"
    assert error.request_id
    assert fake_upstream.requests == []


async def test_stream_passthrough_hides_forced_usage_chunk(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = openai_sse(("Hel", "lo"), include_usage=True)
    fake_upstream.script(CHAT, Reply.sse(frames))
    reply = await post_openai(gateway.url + CHAT, {"model": "openai/gpt-x", "messages": USER_HI, "stream": True})
    assert reply.status == 200
    assert reply.body == b"".join(without_usage_chunk(frames))
    assert all(chunk["choices"] for chunk in reply.chunks())
    assert reply.events()[-1].data == "[DONE]"
    sent = fake_upstream.requests_to(CHAT)[0].json
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["model"] == "gpt-x"


async def test_stream_passthrough_forces_usage_over_explicit_false(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    frames = openai_sse(("x",), include_usage=True)
    fake_upstream.script(CHAT, Reply.sse(frames))
    reply = await post_openai(
        gateway.url + CHAT,
        {"model": "openai/gpt-x", "messages": USER_HI, "stream": True, "stream_options": {"include_usage": False}},
    )
    assert reply.body == b"".join(without_usage_chunk(frames))
    assert fake_upstream.requests_to(CHAT)[0].json["stream_options"]["include_usage"] is True


async def test_stream_passthrough_shows_usage_chunk_when_asked(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = openai_sse(("Hel", "lo"), include_usage=True, usage=openai_usage(11, 4))
    fake_upstream.script(CHAT, Reply.sse(frames))
    async with gateway.openai() as client:
        stream = await client.chat.completions.create(
            model="openai/gpt-x", messages=USER_HI, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 11
    assert chunks[-1].usage.completion_tokens == 4
    assert fake_upstream.requests_to(CHAT)[0].json["stream_options"] == {"include_usage": True}


async def test_stream_passthrough_relays_all_frames_when_usage_asked(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    frames = openai_sse(("a", "b", "c"), tool_calls=[ToolUse("call_1", "f", {"k": 1})], include_usage=True)
    fake_upstream.script(CHAT, Reply.sse(frames))
    reply = await post_openai(
        gateway.url + CHAT,
        {"model": "openai/gpt-x", "messages": USER_HI, "stream": True, "stream_options": {"include_usage": True}},
    )
    assert reply.body == b"".join(frames)


async def test_stream_passthrough_supplies_missing_done(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.sse(openai_sse(("a",), done=False)))
    reply = await post_openai(gateway.url + CHAT, {"model": "openai/gpt-x", "messages": USER_HI, "stream": True})
    assert reply.status == 200
    assert reply.events()[-1].data == "[DONE]"
    assert [e.data for e in reply.events()].count("[DONE]") == 1


async def test_stream_passthrough_sdk_stream_helper(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    tool = ToolUse("call_7", "get_weather", {"city": "Paris"})
    fake_upstream.script(CHAT, Reply.sse(openai_sse(("Let me check",), tool_calls=[tool])))
    async with gateway.openai() as client:
        async with client.chat.completions.stream(model="openai/gpt-x", messages=USER_HI) as stream:
            final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.role == "assistant"
    assert message.content == "Let me check"
    assert message.tool_calls is not None and message.tool_calls[0].id == "call_7"
    assert message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}


async def test_stream_passthrough_midstream_error_raises(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = [*openai_sse(("Hel", "lo"))[:2], openai_error_frame("server_error", "upstream melted")]
    fake_upstream.script(CHAT, Reply.sse(frames))
    seen: list[str] = []
    async with gateway.openai() as client:
        stream = await client.chat.completions.create(model="openai/gpt-x", messages=USER_HI, stream=True)
        try:
            async for chunk in stream:
                seen.append(chunk.choices[0].delta.content or "")
        except openai.APIError as exc:
            error = exc
        else:
            raise AssertionError("the SDK must raise on a mid-stream error")
    assert "".join(seen) == "Hel"
    assert "upstream melted" in error.message


async def test_stream_passthrough_error_before_stream_is_status(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.error(429, "rate_limit_exceeded", "slow down", dialect="openai"))
    reply = await post_openai(gateway.url + CHAT, {"model": "openai/gpt-x", "messages": USER_HI, "stream": True})
    assert reply.status == 429
    assert "slow down" in openai_error_of(reply)["message"]
    assert reply.headers["x-request-id"]


async def test_stream_passthrough_frames_parse_as_chunks(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = openai_sse(("a", "b"))
    fake_upstream.script(CHAT, Reply.sse(frames))
    reply = await post_openai(gateway.url + CHAT, {"model": "openai/gpt-x", "messages": USER_HI, "stream": True})
    relayed = [e.json() for e in parse_sse(reply.body) if e.data != "[DONE]"]
    assert [c["object"] for c in relayed] == ["chat.completion.chunk"] * len(relayed)
    assert relayed[0]["choices"][0]["delta"]["role"] == "assistant"
