"""Anthropic SDK -> gateway -> OpenAI Chat upstream, non-streaming: request translation and the mapped Message.

api-spec section 8 cases 1, 5-13, 32, 33 and the tool round trip of the Done-when list.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import MessageParam, ToolChoiceParam, ToolParam, ToolResultBlockParam

from gateway.testing import FakeUpstream, Reply, ToolUse, openai_completion, openai_sse, openai_usage
from tests.conftest import Gateway, MakeGateway, upstream_config
from tests.http.anthropic_helpers import CHAT, GPT, HI, TIME_TOOL, WEATHER_SCHEMA, WEATHER_TOOL, sent

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def user_text_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "user"]


async def test_create_text_from_openai_upstream(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion("Hello from GPT", usage=openai_usage(30, 12))))
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=GPT, max_tokens=64, messages=HI)
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == GPT  # the requested name, not the upstream's
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello from GPT"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert type(message.usage.input_tokens) is int and message.usage.input_tokens == 30
    assert type(message.usage.output_tokens) is int and message.usage.output_tokens == 12
    assert sent(fake_upstream, CHAT)["model"] == "gpt-x"


async def test_request_shape_system_first_and_length_fields(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    async with gateway.anthropic() as client:
        await client.messages.create(
            model=GPT,
            max_tokens=77,
            system="Be brief.",
            stop_sequences=["END", "STOP"],
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"temperature": 0.5, "top_k": 5},
        )
    body = sent(fake_upstream, CHAT)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1] == {"role": "user", "content": "hi"}
    assert body["max_completion_tokens"] == 77
    assert "max_tokens" not in body
    assert body["stop"] == ["END", "STOP"]
    assert body["temperature"] == 0.5
    assert "top_k" not in body  # no OpenAI field
    assert body.get("stream") in (None, False)
    assert "stream_options" not in body  # only with stream: true


async def test_request_shape_stream_asks_for_usage(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.sse(openai_sse(("ok",))))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=GPT, max_tokens=10, system="S", messages=HI) as stream:
            await stream.get_final_message()
    body = sent(fake_upstream, CHAT)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "S"}
    assert body["max_completion_tokens"] == 10


async def test_system_blocks_joined_without_cache_control(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    async with gateway.anthropic() as client:
        await client.messages.create(
            model=GPT,
            max_tokens=16,
            system=[
                {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            ],
            messages=HI,
        )
    body = sent(fake_upstream, CHAT)
    systems = [m for m in body["messages"] if m["role"] in ("system", "developer")]
    assert len(systems) == 1
    assert body["messages"][0] is not None and body["messages"][0]["role"] == "system"
    content = body["messages"][0]["content"]
    text = content if isinstance(content, str) else "".join(p["text"] for p in content)
    assert text == "You are terse.\n\nAnswer in French."
    assert "cache_control" not in json.dumps(body)


async def test_images_base64_and_url_become_image_url_parts(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    async with gateway.anthropic() as client:
        await client.messages.create(
            model=GPT,
            max_tokens=16,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                        {"type": "text", "text": "Compare them."},
                    ],
                }
            ],
        )
    parts = sent(fake_upstream, CHAT)["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert parts[0]["image_url"]["url"] == f"data:image/png;base64,{PNG_B64}"
    assert parts[1]["image_url"]["url"] == "https://example.com/cat.jpg"
    assert parts[2]["text"] == "Compare them."


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "tool", "name": "get_time"}, {"type": "function", "function": {"name": "get_time"}}),
        ({"type": "none"}, "none"),
    ],
    ids=["auto", "any", "tool", "none"],
)
async def test_tools_definition_and_choice_mapping(
    gateway: Gateway, fake_upstream: FakeUpstream, choice: ToolChoiceParam, expected: object
) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    async with gateway.anthropic() as client:
        await client.messages.create(
            model=GPT,
            max_tokens=16,
            messages=HI,
            tools=[WEATHER_TOOL, TIME_TOOL],
            tool_choice=choice,
        )
    body = sent(fake_upstream, CHAT)
    assert body["tools"][0] == {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather for a city", "parameters": WEATHER_SCHEMA},
    }
    assert body["tools"][1]["function"]["name"] == "get_time"
    assert body["tools"][1]["function"]["parameters"] == TIME_TOOL["input_schema"]
    assert body["tool_choice"] == expected
    assert "parallel_tool_calls" not in body


async def test_tools_disable_parallel_tool_use(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion()))
    async with gateway.anthropic() as client:
        await client.messages.create(
            model=GPT,
            max_tokens=16,
            messages=HI,
            tools=[WEATHER_TOOL],
            tool_choice={"type": "any", "disable_parallel_tool_use": True},
        )
    body = sent(fake_upstream, CHAT)
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is False


async def test_tool_use_response_from_tool_calls(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    call = ToolUse("call_abc", "get_weather", {"city": "Paris", "days": [1, 2]})
    fake_upstream.script(CHAT, Reply.json(openai_completion(None, tool_calls=[call])))
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=GPT, max_tokens=64, messages=HI, tools=[WEATHER_TOOL])
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use"
    assert block.id == "call_abc"
    assert block.name == "get_weather"
    assert block.input == {"city": "Paris", "days": [1, 2]}


async def test_tool_use_response_stop_with_tool_calls_is_tool_use(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    # Several compatible servers say "stop" with tool calls; agents loop unless it becomes tool_use (6.3).
    call = ToolUse("call_1", "get_weather", {"city": "Oslo"})
    fake_upstream.script(CHAT, Reply.json(openai_completion("Let me check.", tool_calls=[call], finish_reason="stop")))
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=GPT, max_tokens=64, messages=HI, tools=[WEATHER_TOOL])
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.stop_reason == "tool_use"


async def test_tool_roundtrip_history_translated(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion("Paris 20C, Oslo 5C")))
    history: list[MessageParam] = [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "20C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "5C"},
                {"type": "text", "text": "Summarise."},
            ],
        },
    ]
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=GPT, max_tokens=64, messages=history, tools=[WEATHER_TOOL])
    assert message.content[0].text == "Paris 20C, Oslo 5C"  # type: ignore[union-attr]
    msgs = sent(fake_upstream, CHAT)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "tool", "user"]
    assistant = msgs[1]
    assert assistant["content"] == "Checking both."
    calls = assistant["tool_calls"]
    assert [(c["id"], c["type"], c["function"]["name"]) for c in calls] == [
        ("toolu_1", "function", "get_weather"),
        ("toolu_2", "function", "get_weather"),
    ]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert (msgs[2]["tool_call_id"], msgs[2]["content"]) == ("toolu_1", "20C")
    assert (msgs[3]["tool_call_id"], msgs[3]["content"]) == ("toolu_2", "5C")
    assert msgs[4]["content"] in ("Summarise.", [{"type": "text", "text": "Summarise."}])


async def test_tool_roundtrip_full_with_openai_upstream(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    call = ToolUse("call_w1", "get_weather", {"city": "Rome"})
    fake_upstream.script(
        CHAT,
        Reply.json(openai_completion(None, tool_calls=[call])),
        Reply.json(openai_completion("Sunny in Rome.")),
    )
    question: MessageParam = {"role": "user", "content": "Weather in Rome?"}
    async with gateway.anthropic() as client:
        first = await client.messages.create(model=GPT, max_tokens=64, messages=[question], tools=[WEATHER_TOOL])
        assert first.stop_reason == "tool_use"
        tool_use = first.content[-1]
        assert tool_use.type == "tool_use"
        result: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": tool_use.id, "content": "sunny"}
        second = await client.messages.create(
            model=GPT,
            max_tokens=64,
            tools=[WEATHER_TOOL],
            messages=[question, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}],
        )
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "Sunny in Rome."  # type: ignore[union-attr]
    msgs = sent(fake_upstream, CHAT, 1)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool"]
    assert msgs[1]["tool_calls"][0]["id"] == "call_w1"
    assert json.loads(msgs[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Rome"}
    assert msgs[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "sunny"}


async def test_tool_result_error_and_content_blocks(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion("Sorry.")))
    history: list[MessageParam] = [
        {"role": "user", "content": "Draw the chart."},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_c", "name": "chart", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_c",
                    "is_error": True,
                    "content": [
                        {"type": "text", "text": "renderer crashed"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                    ],
                }
            ],
        },
    ]
    chart: ToolParam = {"name": "chart", "input_schema": {"type": "object", "properties": {}}}
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=GPT, max_tokens=64, messages=history, tools=[chart])
    assert message.content[0].text == "Sorry."  # type: ignore[union-attr]
    msgs = sent(fake_upstream, CHAT)["messages"]
    tool = next(m for m in msgs if m["role"] == "tool")
    assert tool["tool_call_id"] == "toolu_c"
    tool_text = tool["content"] if isinstance(tool["content"], str) else "".join(p["text"] for p in tool["content"])
    assert "renderer crashed" in tool_text
    assert "error" in tool_text.lower()  # OpenAI has no is_error flag: the content must say so
    # The image cannot ride in a tool message: it follows in a user message, after the tool message.
    after = msgs[msgs.index(tool) + 1 :]
    images = [p for m in after if m["role"] == "user" and isinstance(m["content"], list) for p in m["content"]]
    assert any(p["type"] == "image_url" and p["image_url"]["url"].endswith(PNG_B64) for p in images)


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal")],
)
async def test_stop_reason_matrix(gateway: Gateway, fake_upstream: FakeUpstream, finish: str, stop_reason: str) -> None:
    calls = [ToolUse("call_s", "get_weather", {"city": "Lima"})] if finish == "tool_calls" else []
    text = None if calls else "partial"
    fake_upstream.script(CHAT, Reply.json(openai_completion(text, tool_calls=calls, finish_reason=finish)))
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=GPT, max_tokens=64, messages=HI, tools=[WEATHER_TOOL])
    assert message.stop_reason == stop_reason
    assert message.stop_sequence is None


async def test_usage_cached_tokens_split(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    usage = openai_usage(100, 7, cached_tokens=60)
    fake_upstream.script(CHAT, Reply.json(openai_completion("cached", usage=usage)))
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=GPT, max_tokens=64, messages=HI)
    assert message.usage.input_tokens == 40
    assert message.usage.cache_read_input_tokens == 60
    assert message.usage.output_tokens == 7
    assert message.usage.cache_creation_input_tokens in (0, None)


async def test_structured_output_becomes_response_format(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """Native mode (forced: the fake is not api.openai.com, where the default is tool mode): the schema goes in
    OpenAI's strict form (objects closed), the answer is validated against the client's own."""
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    fake_upstream.script(CHAT, Reply.json(openai_completion('{"answer": 4}')))
    config = upstream_config(fake_upstream.url)
    config["providers"]["openai"]["structured_output"] = {"mode": "native"}
    gateway = await make_gateway(config)
    async with gateway.anthropic() as client:
        message = await client.messages.create(
            model=GPT,
            max_tokens=64,
            messages=[{"role": "user", "content": "2+2?"}],
            extra_body={"output_config": {"format": {"type": "json_schema", "schema": schema}}},
        )
    assert json.loads(message.content[0].text) == {"answer": 4}  # type: ignore[union-attr]
    body = sent(fake_upstream, CHAT)
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert isinstance(fmt["json_schema"]["name"], str) and fmt["json_schema"]["name"]
    assert fmt["json_schema"]["schema"] == schema | {"additionalProperties": False}
    assert fmt["json_schema"]["strict"] is True
    assert "output_config" not in body


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (20000, "high")])
async def test_thinking_budget_becomes_reasoning_effort(
    gateway: Gateway, fake_upstream: FakeUpstream, budget: int, effort: str
) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion("thought")))
    async with gateway.anthropic() as client:
        await client.messages.create(
            model=GPT, max_tokens=21000, messages=HI, thinking={"type": "enabled", "budget_tokens": budget}
        )
    body = sent(fake_upstream, CHAT)
    assert body["reasoning_effort"] == effort
    assert "thinking" not in body


async def test_thinking_output_config_effort_passed_through(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion("ok")))
    async with gateway.anthropic() as client:
        await client.messages.create(
            model=GPT, max_tokens=64, messages=HI, extra_body={"output_config": {"effort": "medium"}}
        )
    assert sent(fake_upstream, CHAT)["reasoning_effort"] == "medium"


async def test_thinking_unsigned_blocks_not_sent_upstream(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion("again")))
    history: list[MessageParam] = [
        {"role": "user", "content": "first"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "secret chain of thought", "signature": ""},
                {"type": "redacted_thinking", "data": "opaque-blob"},
                {"type": "text", "text": "answer one"},
            ],
        },
        {"role": "user", "content": "second"},
    ]
    async with gateway.anthropic() as client:
        await client.messages.create(model=GPT, max_tokens=64, messages=history)
    body = sent(fake_upstream, CHAT)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] in ("answer one", [{"type": "text", "text": "answer one"}])
    raw = json.dumps(body)
    assert "secret chain of thought" not in raw
    assert "opaque-blob" not in raw


async def test_reasoning_content_becomes_thinking_block(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion("42", reasoning="think think")))
    async with gateway.anthropic() as client:
        message = await client.messages.create(model=GPT, max_tokens=64, messages=HI)
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "think think"  # type: ignore[union-attr]
    assert message.content[1].text == "42"  # type: ignore[union-attr]
