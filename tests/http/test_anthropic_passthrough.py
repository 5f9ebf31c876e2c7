"""Anthropic SDK -> gateway -> Anthropic upstream: the lossless relay, both paths, auth and forwarded headers.

api-spec section 8 cases 2, 3, 4, 34 and the Done-when list against `claude-...`.
"""

from __future__ import annotations

import json

import anthropic
import pytest
from anthropic.types import MessageParam, ToolResultBlockParam

from gateway.testing import (
    FakeUpstream,
    Http,
    Reply,
    ToolUse,
    anthropic_message,
    anthropic_sse,
    anthropic_usage,
    assert_anthropic_error,
    openai_completion,
    post_once,
)
from tests.conftest import ANTHROPIC_KEY, CLIENT_KEY, OPENAI_KEY, Gateway, MakeGateway, upstream_config
from tests.http.anthropic_helpers import CHAT, CLAUDE, GPT, GW_MESSAGES, HI, MESSAGES, WEATHER_TOOL, sent

SDK_VERSION_HEADER = "2026-10-21"  # what anthropic 2.14 sends as anthropic-version


async def test_passthrough_body_byte_identical_and_request_id(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    upstream = anthropic_message("Relayed", usage=anthropic_usage(11, 5, cache_read_input_tokens=3))
    upstream["future_field"] = {"nested": [1, 2, 3]}  # unknown to the gateway: must survive the relay
    body = json.dumps(upstream, indent=1).encode()  # unusual spacing: a re-encode would change the bytes
    fake_upstream.script(MESSAGES, Reply.raw(body, headers={"request-id": "req_upstream_42"}))
    async with gateway.anthropic() as client:
        raw = await client.messages.with_raw_response.create(model=CLAUDE, max_tokens=64, messages=HI)
        message = await raw.parse()
    assert raw.http_response.content == body
    assert raw.headers["request-id"] == "req_upstream_42"
    assert raw.headers["content-type"].startswith("application/json")
    assert message._request_id == "req_upstream_42"
    assert message.content[0].text == "Relayed"  # type: ignore[union-attr]
    assert message.usage.cache_read_input_tokens == 3


async def test_passthrough_request_bytes_untouched_for_bare_model(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()))
    body = (
        b'{ "model" : "claude-x", "max_tokens": 32,\n "messages": [{"role": "user", "content": "hi \\u00e9"}],'
        b' "some_new_param": {"x": [true, null]}, "temperature": 0.25 }'
    )
    reply = await post_once(gateway.url + GW_MESSAGES, body)
    assert reply.status == 200, reply.body
    assert fake_upstream.requests_to(MESSAGES)[0].body == body


async def test_passthrough_prefixed_model_rewritten_only(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()))
    request = {
        "model": "anthropic/claude-x",
        "max_tokens": 32,
        "messages": HI,
        "some_new_param": {"keep": "me"},
        "metadata": {"user_id": "u-1"},
    }
    reply = await post_once(gateway.url + GW_MESSAGES, request)
    assert reply.status == 200, reply.body
    assert sent(fake_upstream, MESSAGES) == {**request, "model": "claude-x"}


@pytest.mark.parametrize("path", ["/anthropic/v1/messages", "/v1/messages", "/v1/messages?beta=true"])
async def test_both_paths_behave_the_same(gateway: Gateway, fake_upstream: FakeUpstream, path: str) -> None:
    upstream = anthropic_message("same", model="claude-x")
    fake_upstream.script(MESSAGES, Reply.json(upstream))
    fake_upstream.script(CHAT, Reply.json(openai_completion("same too")))
    anthropic_req = {"model": CLAUDE, "max_tokens": 16, "messages": HI}  # bare: Claude Code's form
    openai_req = {"model": GPT, "max_tokens": 16, "messages": HI}
    relayed = await post_once(gateway.url + path, anthropic_req)
    translated = await post_once(gateway.url + path, openai_req)
    assert relayed.status == 200, relayed.body
    assert relayed.json() == upstream
    assert sent(fake_upstream, MESSAGES) == anthropic_req
    assert fake_upstream.requests_to(MESSAGES)[0].query == {}  # ?beta=true is the client's, not the upstream's
    assert translated.status == 200, translated.body
    assert [(b["type"], b["text"]) for b in translated.json()["content"]] == [("text", "same too")]
    assert translated.json()["model"] == GPT


async def test_sdk_at_root_base_url_with_beta_query(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    # ANTHROPIC_BASE_URL=<gateway root>: the SDK posts /v1/messages (older SDKs add ?beta=true).
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("root ok")))
    client = anthropic.AsyncAnthropic(
        base_url=gateway.url, api_key=CLIENT_KEY, max_retries=0, _strict_response_validation=True
    )
    async with client:
        message = await client.messages.create(model=CLAUDE, max_tokens=16, messages=HI, extra_query={"beta": "true"})
    assert message.content[0].text == "root ok"  # type: ignore[union-attr]
    request = fake_upstream.requests_to(MESSAGES)[0]
    assert request.query == {}
    assert request.json["model"] == CLAUDE


async def test_auth_bearer_from_sdk_accepted_when_enforced(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway
) -> None:
    gateway = await make_gateway(upstream_config(fake_upstream.url, enforce_auth_on_inference=True))
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("authed")))
    async with gateway.anthropic() as client:  # anthropic 2.14: Authorization: Bearer <key>
        message = await client.messages.create(model=CLAUDE, max_tokens=16, messages=HI)
    assert message.content[0].text == "authed"  # type: ignore[union-attr]
    headers = fake_upstream.requests_to(MESSAGES)[0].headers
    assert headers["x-api-key"] == ANTHROPIC_KEY
    assert "authorization" not in headers


async def test_auth_x_api_key_accepted_when_enforced(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(upstream_config(fake_upstream.url, enforce_auth_on_inference=True))
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("authed")))
    reply = await post_once(
        gateway.url + GW_MESSAGES, {"model": CLAUDE, "max_tokens": 16, "messages": HI}
    )  # 1.x: X-Api-Key
    assert reply.status == 200, reply.body
    assert reply.json()["content"][0]["text"] == "authed"
    assert fake_upstream.requests_to(MESSAGES)[0].headers["x-api-key"] == ANTHROPIC_KEY


async def test_auth_x_api_key_via_sdk_default_headers(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(upstream_config(fake_upstream.url, enforce_auth_on_inference=True))
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("authed")))
    client = gateway.anthropic(
        api_key="unused", default_headers={"X-Api-Key": CLIENT_KEY, "Authorization": anthropic.Omit()}
    )
    async with client:
        message = await client.messages.create(model=CLAUDE, max_tokens=16, messages=HI)
    assert message.content[0].text == "authed"  # type: ignore[union-attr]
    assert fake_upstream.requests_to(MESSAGES)[0].headers["x-api-key"] == ANTHROPIC_KEY


async def test_auth_missing_key_is_401_when_enforced(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(upstream_config(fake_upstream.url, enforce_auth_on_inference=True))
    reply = await post_once(gateway.url + GW_MESSAGES, {"model": CLAUDE, "max_tokens": 16, "messages": HI}, key=None)
    assert_anthropic_error(reply, 401, "authentication_error")
    assert fake_upstream.requests == []


async def test_auth_missing_key_sdk_raises_authentication_error(
    fake_upstream: FakeUpstream, make_gateway: MakeGateway
) -> None:
    gateway = await make_gateway(upstream_config(fake_upstream.url, enforce_auth_on_inference=True))
    async with gateway.anthropic(default_headers={"Authorization": anthropic.Omit()}) as client:
        with pytest.raises(anthropic.AuthenticationError) as info:
            await client.messages.create(model=CLAUDE, max_tokens=16, messages=HI)
    assert info.value.status_code == 401
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert info.value.request_id
    assert fake_upstream.requests == []


async def test_auth_missing_key_allowed_when_not_enforced(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("anon")))
    reply = await post_once(gateway.url + GW_MESSAGES, {"model": CLAUDE, "max_tokens": 16, "messages": HI}, key=None)
    assert reply.status == 200, reply.body
    assert fake_upstream.requests_to(MESSAGES)[0].headers["x-api-key"] == ANTHROPIC_KEY


async def test_beta_and_version_headers_forwarded_to_anthropic(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()))
    async with gateway.anthropic() as client:
        await client.messages.create(
            model=CLAUDE,
            max_tokens=16,
            messages=HI,
            extra_headers={"anthropic-beta": "fast-mode-2026-02-01,structured-outputs-2025-11-13"},
        )
    headers = fake_upstream.requests_to(MESSAGES)[0].headers
    assert headers["anthropic-beta"] == "fast-mode-2026-02-01,structured-outputs-2025-11-13"
    assert headers["anthropic-version"] == SDK_VERSION_HEADER
    assert headers["x-api-key"] == ANTHROPIC_KEY
    assert CLIENT_KEY not in str(list(headers.items()))
    assert CLIENT_KEY.encode() not in fake_upstream.requests_to(MESSAGES)[0].body


async def test_anthropic_headers_not_sent_to_openai(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    async with gateway.anthropic() as client:
        await client.messages.create(
            model=GPT, max_tokens=16, messages=HI, extra_headers={"anthropic-beta": "fast-mode-2026-02-01"}
        )
    request = fake_upstream.requests_to(CHAT)[0]
    assert not [name for name in request.headers if name.lower().startswith("anthropic-")]
    assert "x-api-key" not in request.headers
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert CLIENT_KEY not in str(list(request.headers.items()))
    assert CLIENT_KEY.encode() not in request.body


async def test_version_default_when_client_sends_none(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()))
    headers = {"Content-Type": "application/json", "x-api-key": CLIENT_KEY}  # and no anthropic-version
    async with Http(gateway.url, bare=True) as http:
        reply = await http.post(GW_MESSAGES, {"model": CLAUDE, "max_tokens": 16, "messages": HI}, headers)
    assert reply.status == 200, reply.body
    assert fake_upstream.requests_to(MESSAGES)[0].headers["anthropic-version"]  # the real API requires one


async def test_stream_text_via_anthropic_upstream(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = anthropic_sse(("Hel", "lo", " there"), usage=anthropic_usage(21, 9))
    fake_upstream.script(MESSAGES, Reply.sse(frames))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
    assert text == "Hello there"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (21, 9)
    body = sent(fake_upstream, MESSAGES)
    assert body["stream"] is True
    assert body["model"] == CLAUDE


async def test_tool_roundtrip_with_anthropic_upstream(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    tool = ToolUse("toolu_01A", "get_weather", {"city": "Paris"})
    fake_upstream.script(
        MESSAGES,
        Reply.json(anthropic_message("Checking.", tool_uses=[tool])),
        Reply.json(anthropic_message("It is sunny in Paris.")),
    )
    question: MessageParam = {"role": "user", "content": "Weather in Paris?"}
    async with gateway.anthropic() as client:
        first = await client.messages.create(model=CLAUDE, max_tokens=64, messages=[question], tools=[WEATHER_TOOL])
        assert first.stop_reason == "tool_use"
        tool_use = first.content[1]
        assert tool_use.type == "tool_use" and tool_use.input == {"city": "Paris"}
        result: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny, 24C"}
        history: list[MessageParam] = [
            question,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [result]},
        ]
        second = await client.messages.create(model=CLAUDE, max_tokens=64, messages=history, tools=[WEATHER_TOOL])
    assert second.content[0].text == "It is sunny in Paris."  # type: ignore[union-attr]
    assert sent(fake_upstream, MESSAGES, 0)["tools"] == [WEATHER_TOOL]
    msgs = sent(fake_upstream, MESSAGES, 1)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_01A",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert msgs[2]["content"] == [result]
