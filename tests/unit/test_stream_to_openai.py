"""ChatChunkEncoder: Anthropic events -> OpenAI chunk frames, checked the way the openai SDK reads them."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import msgspec
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion_message_function_tool_call import ChatCompletionMessageFunctionToolCall

from gateway.schemas import anthropic as a
from gateway.translate.stream_to_openai import ChatChunkEncoder

MODEL = "gpt-asked"
CREATED = 1730000000


# --- canonical event builders -------------------------------------------------------------------------------


def start(message_id: str = "msg_01A", input_tokens: int = 10, cache_read: int = 0) -> a.StreamEvent:
    usage = a.Usage(input_tokens=input_tokens, output_tokens=1, cache_read_input_tokens=cache_read)
    return a.MessageStart(message=a.Message(id=message_id, model="claude-x", content=[], stop_reason=None, usage=usage))


def text(index: int, *parts: str) -> list[a.StreamEvent]:
    return [
        a.ContentBlockStart(index=index, content_block=a.ContentBlock(type="text", text="")),
        *(a.ContentBlockDelta(index=index, delta=a.Delta(type="text_delta", text=p)) for p in parts),
        a.ContentBlockStop(index=index),
    ]


def thinking(index: int, *parts: str) -> list[a.StreamEvent]:
    block = a.ContentBlock(type="thinking", thinking="", signature="")
    return [
        a.ContentBlockStart(index=index, content_block=block),
        *(a.ContentBlockDelta(index=index, delta=a.Delta(type="thinking_delta", thinking=p)) for p in parts),
        a.ContentBlockDelta(index=index, delta=a.Delta(type="signature_delta", signature="sig")),
        a.ContentBlockStop(index=index),
    ]


def tool(index: int, tool_id: str, name: str, *parts: str, block_type: str = "tool_use") -> list[a.StreamEvent]:
    block = a.ContentBlock(type=block_type, id=tool_id, name=name, input=msgspec.Raw(b"{}"))
    return [
        a.ContentBlockStart(index=index, content_block=block),
        *(a.ContentBlockDelta(index=index, delta=a.Delta(type="input_json_delta", partial_json=p)) for p in parts),
        a.ContentBlockStop(index=index),
    ]


def end(stop_reason: str, output_tokens: int = 5, **usage: int) -> list[a.StreamEvent]:
    return [
        a.MessageDelta(
            delta=a.MessageDeltaBody(stop_reason=stop_reason),
            usage=a.DeltaUsage(output_tokens=output_tokens, **usage),
        ),
        a.MessageStop(),
    ]


# --- running and parsing ------------------------------------------------------------------------------------


def encode(events: list[a.StreamEvent], *, include_usage: bool = True) -> bytes:
    encoder = ChatChunkEncoder(model=MODEL, include_usage=include_usage, created=CREATED)
    out = b"".join(encoder.feed(event) for event in events)
    assert encoder.feed(a.Ping()) == b""  # nothing after [DONE] or an error
    return out


def frames(raw: bytes) -> list[Any]:
    """Each frame is exactly `data: <json>\\n\\n`; [DONE] is returned as the string "[DONE]"."""
    assert raw.endswith(b"\n\n")
    parts = raw[:-2].split(b"\n\n")
    out: list[Any] = []
    for part in parts:
        assert part.startswith(b"data: ") and b"\n" not in part
        payload = part[len(b"data: ") :]
        out.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return out


def client_for(raw: bytes) -> openai.OpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        api_key="k",
        base_url="http://gateway.test/v1",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )


def sdk_chunks(raw: bytes) -> list[ChatCompletionChunk]:
    """The chunks the SDK's own SSE decoder yields from our bytes (create(stream=True))."""
    stream = client_for(raw).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    return list(stream)


def final(raw: bytes) -> ChatCompletion:
    """Accumulate with the SDK's chat stream state, then validate the result strictly.

    The snapshot, not get_final_completion(): that one raises on length and content_filter by design.
    """
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for item in sdk_chunks(raw):
        assert item.object == "chat.completion.chunk"
        state.handle_chunk(item)
    return ChatCompletion.model_validate(state.current_completion_snapshot.model_dump())


def calls_of(message: ChatCompletionMessage) -> list[tuple[str, str, object]]:
    """(id, name, parsed arguments) per tool call; arguments must be valid JSON."""
    calls = message.tool_calls or []
    assert all(isinstance(c, ChatCompletionMessageFunctionToolCall) for c in calls)
    return [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls]  # type: ignore[union-attr]


# --- shape of the frames ------------------------------------------------------------------------------------


def test_text_only_frames() -> None:
    raw = encode([start(), *text(0, "Hel", "lo"), *end("end_turn", 7)], include_usage=False)
    parsed = frames(raw)
    assert parsed[-1] == "[DONE]"
    chunks = parsed[:-1]
    for item in chunks:
        assert item["id"] == "chatcmpl-msg_01A"
        assert item["object"] == "chat.completion.chunk"
        assert item["created"] == CREATED and item["model"] == MODEL
        assert "usage" not in item
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    completion = final(raw)
    message = completion.choices[0].message
    assert message.role == "assistant"
    assert message.content == "Hello"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is None


def test_include_usage_adds_usage_chunk_and_nulls() -> None:
    raw = encode([start(input_tokens=20), *text(0, "Hi"), *end("end_turn", 4)])
    parsed = frames(raw)
    assert parsed[-1] == "[DONE]"
    *chunks, usage_chunk = parsed[:-1]
    assert all("usage" in c and c["usage"] is None for c in chunks)
    assert usage_chunk["choices"] == [] and usage_chunk["id"] == chunks[0]["id"]
    assert usage_chunk["usage"]["prompt_tokens"] == 20
    assert usage_chunk["usage"]["completion_tokens"] == 4
    assert usage_chunk["usage"]["total_tokens"] == 24
    completion = final(raw)
    assert completion.usage is not None and completion.usage.total_tokens == 24
    assert completion.choices[0].message.content == "Hi"


def test_cached_usage_and_cumulative_message_delta() -> None:
    """message_delta usage overwrites (it is cumulative) and may carry the real input and cache counts."""
    events = [
        start(input_tokens=0),
        *text(0, "x"),
        *end("end_turn", 9, input_tokens=40, cache_read_input_tokens=60),
    ]
    usage = final(encode(events)).usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 9, 109)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 60


def test_cache_read_from_message_start_survives() -> None:
    usage = final(encode([start(input_tokens=5, cache_read=15), *text(0, "x"), *end("end_turn", 2)])).usage
    assert usage is not None and usage.prompt_tokens == 20


def test_message_id_already_a_completion_id_is_kept() -> None:
    assert frames(encode([start("chatcmpl-xyz"), *end("end_turn")]))[0]["id"] == "chatcmpl-xyz"


# --- tools --------------------------------------------------------------------------------------------------


def test_text_then_tool() -> None:
    events = [
        start(),
        *text(0, "Checking."),
        a.Ping(),
        *tool(1, "toolu_1", "get_weather", "", '{"city": "Par', 'is"}'),
        *end("tool_use"),
    ]
    raw = encode(events)
    deltas = [c["choices"][0]["delta"] for c in frames(raw)[:-2]]
    assert deltas[2] == {
        "tool_calls": [
            {
                "index": 0,
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ]
    }
    assert deltas[3] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Par'}}]}
    completion = final(raw)
    message = completion.choices[0].message
    assert message.content == "Checking."
    assert calls_of(message) == [("toolu_1", "get_weather", {"city": "Paris"})]
    assert completion.choices[0].finish_reason == "tool_calls"


def test_two_parallel_tools_count_tool_indices_only() -> None:
    events = [
        start(),
        *thinking(0, "plan"),
        *text(1, "Two calls."),
        *tool(2, "toolu_a", "f", '{"x":', " 1}"),
        *tool(3, "toolu_b", "g", '{"y": 2}'),
        *end("tool_use"),
    ]
    raw = encode(events)
    indices = [
        call["index"]
        for c in frames(raw)[:-1]
        if c["choices"]
        for call in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert set(indices) == {0, 1}
    assert calls_of(final(raw).choices[0].message) == [
        ("toolu_a", "f", {"x": 1}),
        ("toolu_b", "g", {"y": 2}),
    ]


def test_tool_with_empty_arguments() -> None:
    raw = encode([start(), *tool(0, "toolu_n", "now", ""), *end("tool_use")])
    assert frames(raw)[1]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == ""
    assert len(frames(raw)) == 5  # role, tool start, finish, usage, [DONE]: the empty fragment sends nothing
    raw = encode([start(), *tool(0, "toolu_n", "now", "", "{}"), *end("tool_use")])
    assert calls_of(final(raw).choices[0].message) == [("toolu_n", "now", {})]


def test_replayed_tool_block_with_whole_input() -> None:
    block = a.ContentBlock(type="tool_use", id="toolu_r", name="f", input=msgspec.Raw(b'{"k": "v"}'))
    events = [
        start(),
        a.ContentBlockStart(index=0, content_block=block),
        a.ContentBlockStop(index=0),
        *end("tool_use"),
    ]
    assert calls_of(final(encode(events)).choices[0].message) == [("toolu_r", "f", {"k": "v"})]


def test_server_tool_blocks_are_not_client_tool_calls() -> None:
    events = [
        start(),
        *tool(0, "srvtoolu_1", "web_search", '{"q": 1}', block_type="server_tool_use"),
        *text(1, "ok"),
    ]
    message = final(encode([*events, *end("end_turn")])).choices[0].message
    assert message.tool_calls is None and message.content == "ok"


# --- reasoning, stop reasons, odd streams -------------------------------------------------------------------


def test_thinking_becomes_reasoning_content_and_signature_is_dropped() -> None:
    raw = encode([start(), *thinking(0, "Let me ", "think."), *text(1, "Answer"), *end("end_turn")])
    deltas = [c["choices"][0]["delta"] for c in frames(raw)[:-2]]
    assert deltas[1:3] == [{"reasoning_content": "Let me "}, {"reasoning_content": "think."}]
    assert all("signature" not in json.dumps(d) for d in deltas)
    message = final(raw).choices[0].message
    assert message.content == "Answer"
    assert message.model_extra is not None and message.model_extra["reasoning_content"] == "Let me think."


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
    ],
)
def test_finish_reason_matrix(stop_reason: str, finish_reason: str) -> None:
    assert final(encode([start(), *text(0, "x"), *end(stop_reason)])).choices[0].finish_reason == finish_reason


def test_message_stop_without_message_delta_still_finishes() -> None:
    raw = encode([start(), *text(0, "x"), a.MessageStop()], include_usage=False)
    assert frames(raw)[-2]["choices"][0]["finish_reason"] == "stop"
    assert final(raw).choices[0].finish_reason == "stop"


def test_repeated_message_start_does_not_repeat_role() -> None:
    raw = encode([start(), *text(0, "a"), start(), *text(1, "b"), *end("end_turn")])
    roles = [c["choices"][0]["delta"].get("role") for c in frames(raw)[:-2]]
    assert roles.count("assistant") == 1
    assert final(raw).choices[0].message.role == "assistant"


def test_events_before_message_start_still_get_a_role_chunk() -> None:
    raw = encode([*text(0, "x"), *end("end_turn")], include_usage=False)
    first = frames(raw)[0]
    assert first["id"].startswith("chatcmpl-")
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_sdk_stream_helper_snapshot_role_is_assistant() -> None:
    raw = encode([start(), *text(0, "Hi", " there"), *tool(1, "toolu_1", "f", '{"a": 1}'), *end("tool_use")])
    with client_for(raw).chat.completions.stream(model=MODEL, messages=[{"role": "user", "content": "hi"}]) as s:
        for _ in s:
            assert s.current_completion_snapshot.choices[0].message.role == "assistant"
        completion = s.get_final_completion()
    message = completion.choices[0].message
    assert message.role == "assistant" and message.content == "Hi there"
    assert calls_of(message) == [("toolu_1", "f", {"a": 1})]
    assert completion.usage is not None and completion.usage.completion_tokens == 5


# --- errors -------------------------------------------------------------------------------------------------


def test_error_frame_shape_and_sdk_raises() -> None:
    encoder = ChatChunkEncoder(model=MODEL, include_usage=True, created=CREATED)
    raw = encoder.feed(start()) + encoder.feed(text(0, "partial")[1])
    error = encoder.error("overloaded_error", "Overloaded")
    assert frames(error) == [
        {"error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": None}}
    ]
    assert encoder.error("api_error", "again") == b""
    assert encoder.feed(a.MessageStop()) == b""
    with pytest.raises(openai.APIError, match="Overloaded"):
        sdk_chunks(raw + error)


def test_stream_error_event_is_the_error_frame() -> None:
    """In OpenAI's words (api_error is its server_error), as the gateway's own errors are written."""
    event = a.StreamError(error=a.ErrorBody(type="api_error", message="boom"))
    raw = encode([start(), event])
    assert frames(raw)[-1] == {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    assert b"[DONE]" not in raw
