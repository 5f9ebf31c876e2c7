"""OpenAI clients in front of an Anthropic upstream: requests translated to Messages, answers and streams back."""

from __future__ import annotations

import json
from typing import Any

import openai
from openai.types.chat import ChatCompletionFunctionToolParam

from gateway.testing import Answer, FakeUpstream, Reply, ToolUse, anthropic_message, anthropic_sse, anthropic_usage
from tests.conftest import ANTHROPIC_KEY, CLIENT_KEY, Gateway, MakeGateway, upstream_config
from tests.http.openai_helpers import USER_HI, WEATHER_TOOL, function_calls, post_openai

MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
MODEL = "anthropic/claude-x"
PARIS = ToolUse("toolu_01", "get_weather", {"city": "Paris"})
TOKYO = ToolUse("toolu_02", "get_weather", {"city": "Tokyo", "units": "metric"})


def _sent(fake: FakeUpstream) -> dict[str, Any]:
    requests = fake.requests_to(MESSAGES)
    assert len(requests) == 1
    body: dict[str, Any] = requests[0].json
    return body


# --- requests -----------------------------------------------------------------------------------------------


async def test_to_anthropic_request_hoists_system(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()))
    async with gateway.openai() as client:
        await client.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
                {"role": "developer", "content": "Answer in French."},
                {"role": "assistant", "content": "Salut"},
                {"role": "user", "content": "again"},
            ],
        )
    sent = _sent(fake_upstream)
    assert sent["model"] == "claude-x"
    assert sent["system"] == "Be brief.\n\nAnswer in French."
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert all(m["role"] != "system" for m in sent["messages"])


async def test_to_anthropic_request_translates_tools(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()))
    bare_tool: ChatCompletionFunctionToolParam = {"type": "function", "function": {"name": "ping"}}
    async with gateway.openai() as client:
        await client.chat.completions.create(
            model=MODEL, messages=USER_HI, tools=[WEATHER_TOOL, bare_tool], tool_choice="required"
        )
    sent = _sent(fake_upstream)
    function = WEATHER_TOOL["function"]
    assert sent["tools"][0] == {
        "name": "get_weather",
        "description": function["description"],
        "input_schema": function["parameters"],
    }
    assert sent["tools"][1]["name"] == "ping"
    assert sent["tools"][1]["input_schema"]["type"] == "object"
    assert sent["tool_choice"] == {"type": "any"}


async def test_to_anthropic_request_named_tool_choice(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()))
    async with gateway.openai() as client:
        await client.chat.completions.create(
            model=MODEL,
            messages=USER_HI,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            parallel_tool_calls=False,
        )
    choice = _sent(fake_upstream)["tool_choice"]
    assert choice == {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}


async def test_to_anthropic_request_defaults_max_tokens(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> None:
    gw = await make_gateway(upstream_config(fake_upstream.url, default_max_tokens=777))
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()), Reply.json(anthropic_message()))
    async with gw.openai() as client:
        await client.chat.completions.create(model=MODEL, messages=USER_HI)
        await client.chat.completions.create(model=MODEL, messages=USER_HI, max_completion_tokens=55)
    first, second = (r.json for r in fake_upstream.requests_to(MESSAGES))
    assert first["max_tokens"] == 777
    assert second["max_tokens"] == 55


async def test_to_anthropic_request_headers(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message()))
    async with gateway.openai() as client:
        await client.chat.completions.create(model=MODEL, messages=USER_HI)
    sent = fake_upstream.requests_to(MESSAGES)[0]
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"]
    assert CLIENT_KEY not in str(sent.headers)
    assert "stream" not in sent.json


async def test_to_anthropic_request_merges_tool_messages(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("Both done")))
    history: list[Any] = [
        {"role": "user", "content": "Weather in Paris and Tokyo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rainy"},
        {"role": "user", "content": "Which is warmer?"},
    ]
    async with gateway.openai() as client:
        await client.chat.completions.create(model=MODEL, messages=history, tools=[WEATHER_TOOL])
    messages = _sent(fake_upstream)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assistant = messages[1]["content"]
    assert [(b["type"], b["id"], b["input"]) for b in assistant] == [
        ("tool_use", "call_1", {"city": "Paris"}),
        ("tool_use", "call_2", {"city": "Tokyo"}),
    ]
    last = messages[2]["content"]
    assert [b["type"] for b in last] == ["tool_result", "tool_result", "text"]
    assert [b["tool_use_id"] for b in last[:2]] == ["call_1", "call_2"]
    assert _result_text(last[0]) == "sunny" and _result_text(last[1]) == "rainy"
    assert last[2]["text"] == "Which is warmer?"


def _result_text(block: dict[str, Any]) -> str:
    content = block["content"]
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


async def test_to_anthropic_request_n_above_one_is_400(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    async with gateway.openai() as client:
        try:
            await client.chat.completions.create(model=MODEL, messages=USER_HI, n=2)
        except openai.BadRequestError as exc:
            error = exc
        else:
            raise AssertionError("n=2 cannot be served by Anthropic")
    assert isinstance(error.body, dict) and error.body["param"] == "n"
    assert fake_upstream.requests == []


# --- non-streaming answers ----------------------------------------------------------------------------------


async def test_to_anthropic_response_maps_text_and_tools(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    usage = anthropic_usage(10, 20, cache_read_input_tokens=5, cache_creation_input_tokens=3)
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("Checking.", tool_uses=[PARIS, TOKYO], usage=usage)))
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(model=MODEL, messages=USER_HI, tools=[WEATHER_TOOL])
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Checking."
    assert choice.finish_reason == "tool_calls"
    calls = function_calls(choice.message.tool_calls)
    assert [c.id for c in calls] == ["toolu_01", "toolu_02"]
    assert all(c.type == "function" and c.function.name == "get_weather" for c in calls)
    assert isinstance(calls[0].function.arguments, str)
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert json.loads(calls[1].function.arguments) == {"city": "Tokyo", "units": "metric"}
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 18  # input + cache read + cache creation
    assert completion.usage.completion_tokens == 20
    assert completion.usage.total_tokens == 38
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 5


async def test_to_anthropic_response_text_only(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("Plain answer")))
    reply = await post_openai(gateway.url + CHAT, {"model": MODEL, "messages": USER_HI})
    body = reply.json()
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    message = body["choices"][0]["message"]
    assert message["content"] == "Plain answer"
    assert "tool_calls" not in message
    assert body["choices"][0]["finish_reason"] == "stop"
    assert isinstance(body["created"], int) and body["id"]


async def test_to_anthropic_response_tool_only_has_null_content(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message(None, tool_uses=[PARIS])))
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(model=MODEL, messages=USER_HI, tools=[WEATHER_TOOL])
    assert completion.choices[0].message.content is None
    assert completion.choices[0].message.tool_calls is not None


async def test_to_anthropic_response_max_tokens_is_length(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("cut", stop_reason="max_tokens")))
    async with gateway.openai() as client:
        completion = await client.chat.completions.create(model=MODEL, messages=USER_HI)
    assert completion.choices[0].finish_reason == "length"


# --- streams ------------------------------------------------------------------------------------------------


async def _stream(gateway: Gateway, frames: list[bytes], fake: FakeUpstream, **extra: Any) -> Answer:
    fake.script(MESSAGES, Reply.sse(frames))
    reply = await post_openai(gateway.url + CHAT, {"model": MODEL, "messages": USER_HI, "stream": True, **extra})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    return reply


async def test_to_anthropic_stream_role_only_first(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await _stream(gateway, anthropic_sse(("Hel", "lo", "!")), fake_upstream)
    chunks = reply.chunks()
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0].get("role") == "assistant"
    assert all("role" not in d for d in deltas[1:])
    assert "".join(d.get("content") or "" for d in deltas) == "Hello!"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {MODEL}
    sent = fake_upstream.requests_to(MESSAGES)[0].json
    assert sent["stream"] is True
    assert sent["model"] == "claude-x"


async def test_to_anthropic_stream_finish_and_done(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await _stream(gateway, anthropic_sse(("a",)), fake_upstream)
    events = reply.events()
    assert events[-1].data == "[DONE]"
    assert [e.data for e in events].count("[DONE]") == 1
    chunks = reply.chunks()
    finishes = [c["choices"][0]["finish_reason"] for c in chunks]
    assert finishes[-1] == "stop"
    assert [f for f in finishes if f is not None] == ["stop"]


async def test_to_anthropic_stream_tool_indices_count_tools(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = anthropic_sse(("Looking",), tool_uses=[PARIS, TOKYO])  # blocks 0 text, 1 and 2 tools
    reply = await _stream(gateway, frames, fake_upstream, tools=[WEATHER_TOOL])
    calls = [tc for c in reply.chunks() if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls") or []]
    assert {tc["index"] for tc in calls} == {0, 1}
    for index, tool in enumerate((PARIS, TOKYO)):
        fragments = [tc for tc in calls if tc["index"] == index]
        first, rest = fragments[0], fragments[1:]
        assert first["id"] == tool.id and first["type"] == "function"
        assert first["function"]["name"] == tool.name
        assert all("id" not in f and "name" not in f.get("function", {}) for f in rest)
        arguments = "".join(f["function"].get("arguments", "") for f in fragments)
        assert json.loads(arguments) == dict(tool.input)
    finishes = [c["choices"][0]["finish_reason"] for c in reply.chunks() if c["choices"]]
    assert finishes[-1] == "tool_calls"


async def test_to_anthropic_stream_no_usage_chunk_unless_asked(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    reply = await _stream(gateway, anthropic_sse(("a", "b")), fake_upstream)
    assert all(c["choices"] for c in reply.chunks())
    assert all(c.get("usage") is None for c in reply.chunks())


async def test_to_anthropic_stream_usage_chunk_when_asked(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    usage = anthropic_usage(12, 7, cache_read_input_tokens=4)
    reply = await _stream(
        gateway, anthropic_sse(("a", "b"), usage=usage), fake_upstream, stream_options={"include_usage": True}
    )
    chunks = reply.chunks()
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 16
    assert chunks[-1]["usage"]["completion_tokens"] == 7
    assert chunks[-1]["usage"]["total_tokens"] == 23
    assert chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 4
    assert all(c["usage"] is None for c in chunks[:-1])
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]][-1] == "stop"
    assert reply.events()[-1].data == "[DONE]"


async def test_to_anthropic_stream_sdk_chunks(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.sse(anthropic_sse(("Hel", "lo"), tool_uses=[PARIS])))
    async with gateway.openai() as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=USER_HI, tools=[WEATHER_TOOL], stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 40


async def test_to_anthropic_stream_helper_snapshot(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.sse(anthropic_sse(("Let me ", "check."), tool_uses=[PARIS, TOKYO])))
    async with gateway.openai() as client:
        async with client.chat.completions.stream(model=MODEL, messages=USER_HI, tools=[WEATHER_TOOL]) as stream:
            async for _event in stream:
                pass
            final = await stream.get_final_completion()
    message = final.choices[0].message
    assert message.role == "assistant"
    assert message.content == "Let me check."
    assert final.choices[0].finish_reason == "tool_calls"
    calls = message.tool_calls
    assert calls is not None and len(calls) == 2
    assert [c.id for c in calls] == ["toolu_01", "toolu_02"]
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert [c.type for c in calls] == ["function", "function"]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert json.loads(calls[1].function.arguments) == {"city": "Tokyo", "units": "metric"}


async def test_to_anthropic_stream_helper_text_only(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(MESSAGES, Reply.sse(anthropic_sse(("one ", "two ", "three"))))
    async with gateway.openai() as client:
        async with client.chat.completions.stream(model=MODEL, messages=USER_HI) as stream:
            final = await stream.get_final_completion()
    assert final.choices[0].message.role == "assistant"
    assert final.choices[0].message.content == "one two three"
    assert final.choices[0].finish_reason == "stop"
