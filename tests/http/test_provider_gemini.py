"""Anthropic and OpenAI SDKs -> gateway -> a fake Gemini API: requests, answers, streams, tools, errors, counting.

The fake serves Google's wire format (tests/fakes/gemini.py); every assertion on the upstream side reads the
request the fake recorded, so the Gemini body, path, query and headers are checked as sent.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import MessageParam, ToolParam
from openai.types.chat import ChatCompletionFunctionToolParam

from gateway.testing import FakeUpstream, Recorded, Reply
from tests.conftest import CLIENT_KEY, Gateway, MakeGateway
from tests.fakes.gemini import (
    FAKE_THOUGHT_SIGNATURE,
    GEMINI_KEY,
    call_part,
    count_path,
    count_tokens_response,
    gemini_chunk,
    gemini_error_reply,
    gemini_response,
    gemini_sse,
    gemini_usage,
    generate_path,
    stream_path,
    text_part,
    text_stream,
    thought_part,
)
from tests.http.anthropic_helpers import HI
from tests.http.openai_helpers import USER_HI

MODEL = "gemini/gemini-x"
WEATHER_INPUT: dict[str, object] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER_TOOL: ToolParam = {"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_INPUT}
WEATHER_FUNCTION: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather for a city", "parameters": WEATHER_INPUT},
}
GEMINI_WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def gemini_config(url: str, keys: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    keys = keys or [{"name": "g", "value": GEMINI_KEY}]
    return {"providers": {"gemini": {"keys": keys, "network_config": {"base_url": url}}}}


@pytest.fixture
async def gw(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> Gateway:
    return await make_gateway(gemini_config(fake_upstream.url))


def only(fake: FakeUpstream, path: str) -> Recorded:
    [request] = fake.requests_to(path)
    return request


def assert_auth(request: Recorded) -> None:
    """Google's key in x-goog-api-key; the client's key in no header at all."""
    assert request.headers["x-goog-api-key"] == GEMINI_KEY
    assert "authorization" not in request.headers
    assert "x-api-key" not in request.headers
    assert CLIENT_KEY not in json.dumps(list(request.headers.items()))


# --- Anthropic SDK ------------------------------------------------------------------------------------------


async def test_anthropic_create_text(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    usage = gemini_usage(120, 7, cached=100, thoughts=3)
    fake_upstream.script(generate_path(), Reply.json(gemini_response("Hello from Gemini", usage=usage)))
    async with gw.anthropic() as client:
        message = await client.messages.create(
            model=MODEL,
            max_tokens=64,
            system="Be brief.",
            messages=HI,
            stop_sequences=["END"],
            extra_body={"temperature": 0.2},
        )
    assert message.model == MODEL
    assert message.content[0].type == "text" and message.content[0].text == "Hello from Gemini"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
        20,
        100,
        10,
    )
    request = only(fake_upstream, generate_path())
    assert_auth(request)
    assert request.json == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 64, "temperature": 0.2, "stopSequences": ["END"]},
    }


async def test_anthropic_stream_text(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(stream_path(), Reply.sse(text_stream(("Hel", "lo", "!"), usage=gemini_usage(9, 3))))
    async with gw.anthropic() as client:
        async with client.messages.stream(model=MODEL, max_tokens=32, messages=HI) as stream:
            pieces = [text async for text in stream.text_stream]
            message = await stream.get_final_message()
    assert pieces == ["Hel", "lo", "!"]
    assert message.content[0].type == "text" and message.content[0].text == "Hello!"
    assert (message.stop_reason, message.usage.input_tokens, message.usage.output_tokens) == ("end_turn", 9, 3)
    request = only(fake_upstream, stream_path())
    assert request.query == {"alt": "sse"}
    assert_auth(request)
    assert "stream" not in request.json


async def test_anthropic_tool_round_trip_keeps_the_signature(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    call = call_part("get_weather", {"city": "Paris"}, signature=FAKE_THOUGHT_SIGNATURE)
    fake_upstream.script(
        generate_path(),
        Reply.json(gemini_response("Checking.", parts=[call])),
        Reply.json(gemini_response("18C in Paris.")),
    )
    tools = [WEATHER_TOOL]
    messages: list[MessageParam] = [{"role": "user", "content": "Weather in Paris?"}]
    async with gw.anthropic() as client:
        first = await client.messages.create(model=MODEL, max_tokens=64, messages=messages, tools=tools)
        [tool_use] = [b for b in first.content if b.type == "tool_use"]
        assert first.stop_reason == "tool_use"
        assert (tool_use.name, tool_use.input, tool_use.id.startswith("toolu_")) == (
            "get_weather",
            {"city": "Paris"},
            True,
        )
        messages += [
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18C"}]},
        ]
        second = await client.messages.create(model=MODEL, max_tokens=64, messages=messages, tools=tools)
    assert second.content[0].type == "text" and second.content[0].text == "18C in Paris."
    first_body, second_body = (r.json for r in fake_upstream.requests_to(generate_path()))
    assert first_body["tools"] == [{"functionDeclarations": [GEMINI_WEATHER]}]
    assert second_body["contents"][1:] == [
        {"role": "model", "parts": [{"text": "Checking."}, call]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}}]},
    ]


async def test_anthropic_stream_text_then_tool_use(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    chunks = [
        gemini_chunk([text_part("Let me look")], usage=gemini_usage(30, 3)),
        gemini_chunk([call_part("get_weather", {"city": "Oslo"})], finish="STOP", usage=gemini_usage(30, 12)),
    ]
    fake_upstream.script(stream_path(), Reply.sse(gemini_sse(chunks)))
    async with gw.anthropic() as client:
        async with client.messages.stream(
            model=MODEL, max_tokens=64, messages=HI, tools=[WEATHER_TOOL], tool_choice={"type": "any"}
        ) as stream:
            message = await stream.get_final_message()
    assert [b.type for b in message.content] == ["text", "tool_use"]
    tool_use = message.content[1]
    assert tool_use.type == "tool_use" and tool_use.input == {"city": "Oslo"}
    assert (message.stop_reason, message.usage.output_tokens) == ("tool_use", 12)
    assert only(fake_upstream, stream_path()).json["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


async def test_anthropic_thinking(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    parts = [thought_part("Two plus two"), text_part("4", signature=FAKE_THOUGHT_SIGNATURE)]
    fake_upstream.script(generate_path(), Reply.json(gemini_response(None, parts=parts)))
    async with gw.anthropic() as client:
        message = await client.messages.create(
            model=MODEL, max_tokens=2048, messages=HI, thinking={"type": "enabled", "budget_tokens": 1024}
        )
    assert [b.type for b in message.content] == ["thinking", "thinking", "text"]
    assert message.content[0].type == "thinking" and message.content[0].thinking == "Two plus two"
    config = only(fake_upstream, generate_path()).json["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}


async def test_anthropic_count_tokens(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(count_path(), Reply.json(count_tokens_response(42)))
    async with gw.anthropic() as client:
        result = await client.messages.count_tokens(model=MODEL, system="S", messages=HI, tools=[WEATHER_TOOL])
    assert result.input_tokens == 42
    request = only(fake_upstream, count_path())
    assert_auth(request)
    assert request.json == {
        "generateContentRequest": {
            "model": "models/gemini-x",
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "systemInstruction": {"parts": [{"text": "S"}]},
            "tools": [{"functionDeclarations": [GEMINI_WEATHER]}],
        }
    }


# --- OpenAI SDK ---------------------------------------------------------------------------------------------


async def test_openai_create_text(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(generate_path(), Reply.json(gemini_response("Bonjour", usage=gemini_usage(50, 4, cached=30))))
    async with gw.openai() as client:
        completion = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "system", "content": "French."}, {"role": "user", "content": "hi"}],
            max_tokens=20,
        )
    assert completion.choices[0].message.content == "Bonjour"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (50, 4)
    request = only(fake_upstream, generate_path())
    assert_auth(request)
    assert request.json["systemInstruction"] == {"parts": [{"text": "French."}]}
    assert request.json["generationConfig"]["maxOutputTokens"] == 20


async def test_openai_stream_text(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(stream_path(), Reply.sse(text_stream(("Bon", "jour"), usage=gemini_usage(11, 2))))
    async with gw.openai() as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=USER_HI, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Bonjour"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (11, 2)


async def test_openai_tool_round_trip(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        generate_path(),
        Reply.json(gemini_response(None, parts=[call_part("get_weather", {"city": "Lima"}, signature="c2ln")])),
        Reply.json(gemini_response("Sunny in Lima.")),
    )
    messages: list[Any] = [{"role": "user", "content": "Weather in Lima?"}]
    async with gw.openai() as client:
        first = await client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_FUNCTION])
        [call] = first.choices[0].message.tool_calls or []
        assert first.choices[0].finish_reason == "tool_calls"
        assert call.type == "function" and json.loads(call.function.arguments) == {"city": "Lima"}
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ]
        second = await client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_FUNCTION])
    assert second.choices[0].message.content == "Sunny in Lima."
    body = fake_upstream.requests_to(generate_path())[1].json
    # OpenAI clients keep no thinking blocks: the call goes back with Google's stand-in signature.
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Lima"}},
                    "thoughtSignature": "skip_thought_signature_validator",
                }
            ],
        },
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}}]},
    ]


# --- errors -------------------------------------------------------------------------------------------------


async def test_errors_map_to_sdk_exceptions(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(
        generate_path(),
        gemini_error_reply(400, "INVALID_ARGUMENT", "Invalid value at 'contents'"),
        gemini_error_reply(429, "RESOURCE_EXHAUSTED", "Quota exceeded", headers={"retry-after": "3"}),
        gemini_error_reply(500, "INTERNAL", "Internal error encountered."),
        gemini_error_reply(400, "INVALID_ARGUMENT", "Invalid value at 'contents'"),
        gemini_error_reply(429, "RESOURCE_EXHAUSTED", "Quota exceeded", retry_delay="7s"),
        gemini_error_reply(503, "UNAVAILABLE", "The model is overloaded."),
    )
    async with gw.anthropic() as client:
        with pytest.raises(anthropic.BadRequestError, match="Invalid value at 'contents'"):
            await client.messages.create(model=MODEL, max_tokens=8, messages=HI)
        with pytest.raises(anthropic.RateLimitError) as limited:
            await client.messages.create(model=MODEL, max_tokens=8, messages=HI)
        assert limited.value.response.headers["retry-after"] == "3"
        with pytest.raises(anthropic.InternalServerError) as failed:
            await client.messages.create(model=MODEL, max_tokens=8, messages=HI)
        assert failed.value.status_code == 500
    async with gw.openai() as oai:
        with pytest.raises(openai.BadRequestError, match="Invalid value at 'contents'"):
            await oai.chat.completions.create(model=MODEL, messages=USER_HI)
        with pytest.raises(openai.RateLimitError) as limited_oai:
            await oai.chat.completions.create(model=MODEL, messages=USER_HI)
        assert limited_oai.value.response.headers["retry-after"] == "7"  # from Google's RetryInfo
        with pytest.raises(openai.InternalServerError) as failed_oai:
            await oai.chat.completions.create(model=MODEL, messages=USER_HI)
        assert failed_oai.value.status_code == 503


async def test_stream_error_status_before_the_first_event(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(stream_path(), gemini_error_reply(429, "RESOURCE_EXHAUSTED", "Slow down", retry_delay="2s"))
    async with gw.anthropic() as client:
        with pytest.raises(anthropic.RateLimitError) as info:
            async with client.messages.stream(model=MODEL, max_tokens=8, messages=HI) as stream:
                await stream.get_final_message()
    assert info.value.response.headers["retry-after"] == "2"


async def test_stream_error_chunk_mid_stream(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    error = {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}
    fake_upstream.script(stream_path(), Reply.sse(gemini_sse([gemini_chunk([text_part("partial ")]), error])))
    seen: list[str] = []
    async with gw.anthropic() as client:
        async with client.messages.stream(model=MODEL, max_tokens=8, messages=HI) as stream:
            with pytest.raises(anthropic.APIStatusError) as info:
                async for text in stream.text_stream:
                    seen.append(text)
    assert seen == ["partial "]
    assert info.value.body["error"]["message"] == "Internal error encountered."  # type: ignore[index]


async def test_stream_cut_before_finish_reason_is_an_error(gw: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(stream_path(), Reply.sse(gemini_sse([gemini_chunk([text_part("half")])])))
    async with gw.openai() as client:
        stream = await client.chat.completions.create(model=MODEL, messages=USER_HI, stream=True)
        with pytest.raises(openai.APIError, match="finishReason"):
            async for _ in stream:
                pass


async def test_invalid_key_moves_to_the_next_key(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    keys = [{"name": "one", "value": "goog-one"}, {"name": "two", "value": "goog-two"}]
    gw = await make_gateway(gemini_config(fake_upstream.url, keys))
    # Whichever key goes first is refused (Google says 400 API_KEY_INVALID): the call must go on with the other.
    fake_upstream.script(
        generate_path(),
        gemini_error_reply(400, "INVALID_ARGUMENT", "API key not valid.", reason="API_KEY_INVALID"),
        Reply.json(gemini_response("ok")),
    )
    async with gw.anthropic() as client:
        message = await client.messages.create(model=MODEL, max_tokens=8, messages=HI)
    assert message.content[0].type == "text" and message.content[0].text == "ok"
    sent_keys = [r.headers["x-goog-api-key"] for r in fake_upstream.requests_to(generate_path())]
    assert sorted(sent_keys) == ["goog-one", "goog-two"]
