"""Anthropic SDK streaming through the gateway: OpenAI chunks translated to Anthropic events, Anthropic SSE relayed.

api-spec section 8 cases 14-23 and 35. Raw checks read the SSE bytes with aiohttp and parse them with parse_sse.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from gateway.testing import (
    CREATED,
    OPENAI_DONE,
    FakeUpstream,
    Reply,
    ToolUse,
    anthropic_error_frame,
    anthropic_frame,
    anthropic_sse,
    check_stream_grammar,
    openai_error_frame,
    openai_frame,
    openai_sse,
    openai_usage,
    post_once,
)
from tests.conftest import Gateway
from tests.http.anthropic_helpers import (
    CHAT,
    CLAUDE,
    GPT,
    GW_MESSAGES,
    HI,
    MESSAGES,
    TIME_TOOL,
    WEATHER_TOOL,
    deltas,
    named,
)


def stream_request(model: str = GPT, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 64, "messages": HI, "stream": True, **extra}


def chunk(delta: dict[str, Any], finish: str | None = None, **fields: Any) -> bytes:
    """One chat.completion.chunk frame with a single choice."""
    body = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": CREATED, "model": "gpt-x"}
    body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    return openai_frame({**body, **fields})


async def test_stream_text_stream_and_final_usage(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = openai_sse(("The ", "answer ", "is 4."), usage=openai_usage(31, 13))
    fake_upstream.script(CHAT, Reply.sse(frames))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=GPT, max_tokens=64, messages=HI) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
    assert text == "The answer is 4."
    assert final.model == GPT
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == "The answer is 4."  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (31, 13)


async def test_stream_event_order_and_event_lines(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = openai_sse(("Hi", " you"), tool_calls=[ToolUse("call_1", "get_weather", {"city": "Paris"})])
    fake_upstream.script(CHAT, Reply.sse(frames))
    reply = await post_once(gateway.url + GW_MESSAGES, stream_request(tools=[WEATHER_TOOL]))
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["request-id"]
    events = reply.events()
    blocks = check_stream_grammar(events)
    assert [b["type"] for b in blocks] == ["text", "tool_use"]
    start = events[0].json()["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["role"] == "assistant"
    assert isinstance(start["usage"]["input_tokens"], int)
    [message_delta] = named(events, "message_delta")
    assert message_delta["delta"]["stop_reason"] == "tool_use"
    assert isinstance(message_delta["usage"]["output_tokens"], int)


async def test_stream_tool_call_input_json_delta(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    args = {"city": "São Paulo", "units": "metric", "days": [1, 2, 3]}
    frames = openai_sse((), tool_calls=[ToolUse("call_sp", "get_weather", args)])
    fake_upstream.script(CHAT, Reply.sse(frames))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=GPT, max_tokens=64, messages=HI, tools=[WEATHER_TOOL]) as stream:
            fragments = [e.partial_json async for e in stream if e.type == "input_json"]
            final = await stream.get_final_message()
    assert len(fragments) >= 2  # the fragmented arguments arrive as several input_json_delta frames
    assert json.loads("".join(fragments)) == args
    [block] = final.content
    assert block.type == "tool_use"
    assert (block.id, block.name, block.input) == ("call_sp", "get_weather", args)
    assert final.stop_reason == "tool_use"


async def test_stream_parallel_tools(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    calls = [ToolUse("call_a", "get_weather", {"city": "Oslo"}), ToolUse("call_b", "get_time", {"tz": "CET"})]
    fake_upstream.script(CHAT, Reply.sse(openai_sse((), tool_calls=calls)))
    async with gateway.anthropic() as client:
        async with client.messages.stream(
            model=GPT, max_tokens=64, messages=HI, tools=[WEATHER_TOOL, TIME_TOOL]
        ) as stream:
            final = await stream.get_final_message()
    assert [(b.type, b.id, b.name, b.input) for b in final.content] == [  # type: ignore[union-attr]
        ("tool_use", "call_a", "get_weather", {"city": "Oslo"}),
        ("tool_use", "call_b", "get_time", {"tz": "CET"}),
    ]
    assert final.stop_reason == "tool_use"


async def test_stream_parallel_tools_interleaved_fragments(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    # Some servers interleave the fragments of parallel calls; each block must still get valid JSON.
    frames = [
        chunk({"role": "assistant", "content": ""}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"tz": "UTC"}'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Rome"}'}}]}),
        chunk({}, "tool_calls"),
        OPENAI_DONE,
    ]
    fake_upstream.script(CHAT, Reply.sse(frames))
    reply = await post_once(gateway.url + GW_MESSAGES, stream_request(tools=[WEATHER_TOOL, TIME_TOOL]))
    events = reply.events()
    blocks = check_stream_grammar(events)
    assert [(b["type"], b["id"], b["name"]) for b in blocks] == [
        ("tool_use", "call_a", "get_weather"),
        ("tool_use", "call_b", "get_time"),
    ]
    inputs = ["".join(d["partial_json"] for d in deltas(events, i, "input_json_delta")) for i in range(2)]
    assert [json.loads(i) for i in inputs] == [{"city": "Rome"}, {"tz": "UTC"}]


async def test_stream_text_then_tool(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = openai_sse(("Let me ", "check."), tool_calls=[ToolUse("call_t", "get_weather", {"city": "Kyiv"})])
    fake_upstream.script(CHAT, Reply.sse(frames))
    reply = await post_once(gateway.url + GW_MESSAGES, stream_request(tools=[WEATHER_TOOL]))
    events = reply.events()
    blocks = check_stream_grammar(events)  # also: block 0 stopped before block 1 starts
    assert [b["type"] for b in blocks] == ["text", "tool_use"]
    names = [(e.event, e.json().get("index")) for e in events]
    assert names.index(("content_block_stop", 0)) < names.index(("content_block_start", 1))
    assert "".join(d["text"] for d in deltas(events, 0, "text_delta")) == "Let me check."
    tool_json = "".join(d["partial_json"] for d in deltas(events, 1, "input_json_delta"))
    assert json.loads(tool_json) == {"city": "Kyiv"}


async def test_stream_usage_chunk_after_finish_reason(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    usage = openai_usage(120, 17, cached_tokens=20)
    frames = openai_sse(("ok",), usage=usage, usage_in_separate_chunk=True)  # finish chunk, then usage chunk
    fake_upstream.script(CHAT, Reply.sse(frames))
    reply = await post_once(gateway.url + GW_MESSAGES, stream_request())
    events = reply.events()
    check_stream_grammar(events)
    [message_delta] = named(events, "message_delta")
    assert message_delta["usage"]["output_tokens"] == 17
    assert message_delta["usage"]["input_tokens"] == 100
    assert message_delta["usage"]["cache_read_input_tokens"] == 20
    assert message_delta["delta"]["stop_reason"] == "end_turn"


async def test_stream_usage_after_finish_reaches_sdk(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.sse(openai_sse(("ok",), usage=openai_usage(50, 9))))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=GPT, max_tokens=64, messages=HI) as stream:
            final = await stream.get_final_message()
    assert (final.usage.input_tokens, final.usage.output_tokens) == (50, 9)


@pytest.mark.parametrize(("finish", "stop_reason"), [("length", "max_tokens"), ("content_filter", "refusal")])
async def test_stream_stop_reason_mapping(
    gateway: Gateway, fake_upstream: FakeUpstream, finish: str, stop_reason: str
) -> None:
    fake_upstream.script(CHAT, Reply.sse(openai_sse(("cut sh",), finish_reason=finish)))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=GPT, max_tokens=3, messages=HI) as stream:
            final = await stream.get_final_message()
    assert final.stop_reason == stop_reason
    assert final.content[0].text == "cut sh"  # type: ignore[union-attr]


async def test_stream_upstream_eof_without_done(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.sse(openai_sse(("no ", "done"), done=False)))
    reply = await post_once(gateway.url + GW_MESSAGES, stream_request())
    events = reply.events()
    check_stream_grammar(events)
    assert [e.event for e in events[-2:]] == ["message_delta", "message_stop"]
    assert "".join(d["text"] for d in deltas(events, 0, "text_delta")) == "no done"


async def test_stream_eof_without_finish_reason_or_done(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = [chunk({"role": "assistant", "content": ""}), chunk({"content": "cut"})]
    fake_upstream.script(CHAT, Reply.sse(frames))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=GPT, max_tokens=64, messages=HI) as stream:
            final = await stream.get_final_message()
    assert final.content[0].text == "cut"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"


async def test_stream_reasoning_becomes_thinking_block_first(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = openai_sse(("Answer.",), reasoning_chunks=("Let me ", "think."))
    fake_upstream.script(CHAT, Reply.sse(frames))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=GPT, max_tokens=64, messages=HI) as stream:
            thoughts = [e.thinking async for e in stream if e.type == "thinking"]
            final = await stream.get_final_message()
    assert "".join(thoughts) == "Let me think."
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Let me think."  # type: ignore[union-attr]
    assert final.content[1].text == "Answer."  # type: ignore[union-attr]


async def test_stream_reasoning_raw_blocks(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = openai_sse(("A",), reasoning_chunks=("hmm",), reasoning_key="reasoning")  # OpenRouter spelling
    fake_upstream.script(CHAT, Reply.sse(frames))
    reply = await post_once(gateway.url + GW_MESSAGES, stream_request())
    events = reply.events()
    blocks = check_stream_grammar(events)
    assert [b["type"] for b in blocks] == ["thinking", "text"]
    assert [d["thinking"] for d in deltas(events, 0, "thinking_delta")] == ["hmm"]


def midstream_error_frames() -> list[bytes]:
    # role chunk, one text chunk, then the error chunk
    return [*openai_sse(("partial ", "answer"), done=False)[:2], openai_error_frame("server_error", "boom")]


async def test_stream_midstream_error_chunk_raw(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.sse(midstream_error_frames()))
    reply = await post_once(gateway.url + GW_MESSAGES, stream_request())
    assert reply.status == 200
    events = reply.events()
    assert events[0].event == "message_start"
    assert events[-1].event == "error"
    error = events[-1].json()
    assert error["type"] == "error"
    assert error["error"]["type"] in ("api_error", "overloaded_error", "rate_limit_error")
    assert isinstance(error["error"]["message"], str)
    assert "message_stop" not in [e.event for e in events]


async def test_stream_midstream_error_chunk_sdk_raises(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.sse(midstream_error_frames()))
    seen: list[str] = []
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=GPT, max_tokens=64, messages=HI) as stream:
            with pytest.raises(anthropic.APIStatusError) as info:
                async for text in stream.text_stream:
                    seen.append(text)
    assert "".join(seen) == "partial "
    assert info.value.body["type"] == "error"  # type: ignore[index]


async def test_stream_dropped_connection_raw(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.sse(openai_sse(("a", "b", "c")), close_after=3))
    reply = await post_once(gateway.url + GW_MESSAGES, stream_request())
    events = reply.events()
    assert events[0].event == "message_start"
    assert events[-1].event == "error"
    assert events[-1].json()["error"]["type"] in ("api_error", "overloaded_error")
    assert "message_stop" not in [e.event for e in events]


async def test_stream_dropped_connection_sdk_raises(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.sse(openai_sse(("a", "b", "c")), close_after=3))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=GPT, max_tokens=64, messages=HI) as stream:
            with pytest.raises(anthropic.APIStatusError):
                await stream.get_final_message()


async def test_stream_passthrough_relays_pings_and_unknown_events(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    unknown = anthropic_frame("future_event", {"type": "future_event", "payload": {"x": 1}})
    comment = b": upstream keepalive\n\n"
    frames = anthropic_sse(("Hel", "lo"), extra_frames=[unknown, comment])
    fake_upstream.script(MESSAGES, Reply.sse(frames))
    reply = await post_once(gateway.url + GW_MESSAGES, stream_request(CLAUDE))
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    body = reply.body.replace(b": keepalive\n\n", b"")  # the gateway's own keep-alives, if any, are fine
    assert body == b"".join(frames)
    assert b"event: ping" in body


async def test_stream_passthrough_sdk_tolerates_unknown_events(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    unknown = anthropic_frame("future_event", {"type": "future_event"})
    frames = anthropic_sse(("x", "y"), extra_frames=[unknown], thinking="deep")
    fake_upstream.script(MESSAGES, Reply.sse(frames))
    # Strict validation rejects event types the SDK does not know; real clients run lenient.
    async with gateway.anthropic(_strict_response_validation=False) as client:
        async with client.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
    assert text == "xy"
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].signature  # type: ignore[union-attr]


async def test_stream_passthrough_upstream_error_event_relayed(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    frames = [*anthropic_sse(("a",))[:3], anthropic_error_frame("overloaded_error", "Overloaded")]
    fake_upstream.script(MESSAGES, Reply.sse(frames))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
            with pytest.raises(anthropic.APIStatusError) as info:
                await stream.get_final_message()
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


@pytest.mark.parametrize("model", [GPT, CLAUDE])
async def test_async_stream_cancel_closes_upstream(gateway: Gateway, fake_upstream: FakeUpstream, model: str) -> None:
    if model == GPT:
        fake_upstream.script(CHAT, Reply.sse(openai_sse(tuple("abcdefghij")), delay=0.3))
    else:
        fake_upstream.script(MESSAGES, Reply.sse(anthropic_sse(tuple("abcdefghij")), delay=0.3))
    async with gateway.anthropic() as client:
        async with client.messages.stream(model=model, max_tokens=64, messages=HI) as stream:
            async for event in stream:
                assert event.type == "message_start"
                break
    await fake_upstream.wait_closed_streams(1, timeout=2.0)
    assert fake_upstream.closed_streams == 1
