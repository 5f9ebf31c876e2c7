"""OpenAIStreamTranslator: OpenAI chunks -> Anthropic events, checked as the anthropic SDK consumes them."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2
import pydantic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent

from gateway.schemas import anthropic as a
from gateway.schemas import openai as o
from gateway_plugins.provider_openai.chat_stream import OpenAIStreamTranslator

MODEL = "claude-asked"
EVENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)


# --- builders -----------------------------------------------------------------------------------------------


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    choices: bool = True,
    chunk_id: str = "chatcmpl-up1",
) -> o.ChatCompletionChunk:
    body: dict[str, Any] = {"id": chunk_id, "object": "chat.completion.chunk", "created": 1, "model": "up"}
    body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else []
    if usage is not None:
        body["usage"] = usage
    return o.CHUNK_DECODER.decode(json.dumps(body))


def call(index: int, *, id: str | None = None, name: str | None = None, args: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": index}
    if id is not None:
        entry["id"] = id
        entry["type"] = "function"
    function = {k: v for k, v in (("name", name), ("arguments", args)) if v is not None}
    if function:
        entry["function"] = function
    return entry


def tools(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"tool_calls": list(calls)}


def usage(prompt: int, completion: int, cached: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion}
    body["total_tokens"] = prompt + completion
    if cached is not None:
        body["prompt_tokens_details"] = {"cached_tokens": cached}
    return body


ROLE = chunk({"role": "assistant", "content": ""})


# --- running and checking -----------------------------------------------------------------------------------


def translate(chunks: list[o.ChatCompletionChunk], **kwargs: Any) -> list[dict[str, Any]]:
    """All events as wire dicts; finish() is called once more to check it is idempotent."""
    translator = OpenAIStreamTranslator(model=MODEL, **kwargs)
    events: list[a.StreamEvent] = []
    for item in chunks:
        events += translator.feed(item)
    events += translator.finish()
    assert translator.finish() == []
    assert translator.feed(chunk({"content": "late"})) == []
    wire = [json.loads(a.ENCODER.encode(event)) for event in events]
    for event in wire:
        EVENT_ADAPTER.validate_python(event)  # strict: every required field present and typed
    check_order(wire)
    return wire


def check_order(events: list[dict[str, Any]]) -> None:
    """message_start first; blocks 0..n-1, each start, deltas, stop; then message_delta, message_stop."""
    assert events[0]["type"] == "message_start"
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    open_index: int | None = None
    next_index = 0
    for event in events[1:-2]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None, "a block started before the previous one stopped"
            assert event["index"] == next_index
            open_index, next_index = next_index, next_index + 1
        elif kind == "content_block_delta":
            assert event["index"] == open_index
        elif kind == "content_block_stop":
            assert event["index"] == open_index
            open_index = None
        else:
            raise AssertionError(f"unexpected {kind} inside the message")
    assert open_index is None


def accumulate(events: list[dict[str, Any]]) -> Message:
    """The final Message the SDK's stream accumulator builds."""
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event in events:
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)  # type: ignore[arg-type]
    assert snapshot is not None
    return Message.model_validate(snapshot.model_dump())


def blocks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["content_block"] for e in events if e["type"] == "content_block_start"]


def json_deltas(events: list[dict[str, Any]], index: int) -> list[str]:
    return [
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["index"] == index and e["delta"]["type"] == "input_json_delta"
    ]


def tool_inputs(message: Message) -> list[tuple[str, str, object]]:
    return [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]


# --- text, usage, stop reasons ------------------------------------------------------------------------------


def test_text_only() -> None:
    events = translate(
        [
            ROLE,
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk(finish="stop"),
            chunk(usage=usage(12, 3)),
        ]
    )
    start = events[0]["message"]
    assert start["id"] == "chatcmpl-up1"
    assert start["model"] == MODEL
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 0 and start["usage"]["output_tokens"] == 0
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    message = accumulate(events)
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens == 12 and message.usage.output_tokens == 3


def test_message_start_uses_given_id_and_input_estimate() -> None:
    events = translate([ROLE, chunk({"content": "x"})], message_id="msg_given", input_tokens=42)
    assert events[0]["message"]["id"] == "msg_given"
    assert events[0]["message"]["usage"]["input_tokens"] == 42
    # no upstream usage at all: the estimate stands, output is 0
    assert events[-2]["usage"] == {
        "output_tokens": 0,
        "input_tokens": 42,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_first_chunk_gives_message_start_and_empty_chunks_give_nothing() -> None:
    translator = OpenAIStreamTranslator(model=MODEL)
    first = translator.feed(ROLE)
    assert [type(e) for e in first] == [a.MessageStart]
    assert translator.feed(chunk(choices=False)) == []
    assert translator.feed(chunk({})) == []
    assert translator.feed(chunk({"content": ""})) == []


def test_usage_chunk_after_finish_reason_lands_in_message_delta() -> None:
    translator = OpenAIStreamTranslator(model=MODEL)
    translator.feed(ROLE)
    translator.feed(chunk({"content": "Hi"}))
    assert translator.feed(chunk(finish="stop")) == []  # stored, not acted upon
    assert translator.feed(chunk(choices=False, usage=usage(30, 7))) == []
    events = [json.loads(a.ENCODER.encode(e)) for e in translator.finish()]
    assert [e["type"] for e in events] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[1]["usage"] == {
        "output_tokens": 7,
        "input_tokens": 30,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_last_non_null_usage_wins() -> None:
    events = translate([chunk({"content": "a"}, usage=usage(5, 1)), chunk({"content": "b"}), chunk(usage=usage(5, 2))])
    assert events[0]["message"]["usage"]["input_tokens"] == 5  # usage on the first chunk seeds message_start
    assert events[-2]["usage"]["output_tokens"] == 2


def test_cached_tokens_usage() -> None:
    events = translate([chunk({"content": "a"}, finish="stop"), chunk(choices=False, usage=usage(100, 9, cached=60))])
    assert events[-2]["usage"] == {
        "output_tokens": 9,
        "input_tokens": 40,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 60,
    }
    message = accumulate(events)
    assert message.usage.input_tokens == 40
    assert message.usage.cache_read_input_tokens == 60


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"), (None, "end_turn")],
)
def test_stop_reason_matrix(finish: str | None, stop_reason: str) -> None:
    events = translate([chunk({"content": "x"}), chunk(finish=finish)])
    assert accumulate(events).stop_reason == stop_reason


def test_refusal_delta_is_text_and_ends_in_refusal() -> None:
    events = translate([chunk({"refusal": "I can't help"}), chunk(finish="stop")])
    message = accumulate(events)
    assert message.content[0].text == "I can't help"  # type: ignore[union-attr]
    assert message.stop_reason == "refusal"


def test_finish_without_any_chunk_is_a_valid_empty_message() -> None:
    events = translate([])
    assert [e["type"] for e in events] == ["message_start", "message_delta", "message_stop"]
    assert events[0]["message"]["id"].startswith("msg_")
    message = accumulate(events)
    assert message.content == [] and message.stop_reason == "end_turn"


def test_eof_without_done_closes_open_tool_block() -> None:
    """The stream breaks off mid-tool (no finish_reason, no [DONE]): finish() alone ends it validly."""
    events = translate([chunk(tools(call(0, id="call_1", name="f", args='{"a":')))])
    assert [e["type"] for e in events[-3:]] == ["content_block_stop", "message_delta", "message_stop"]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


# --- reasoning ----------------------------------------------------------------------------------------------


def test_reasoning_before_text() -> None:
    events = translate(
        [
            ROLE,
            chunk({"reasoning_content": "Let me "}),
            chunk({"reasoning_content": "think."}),
            chunk({"content": "Answer"}),
            chunk(finish="stop"),
        ]
    )
    assert blocks(events) == [
        {"type": "thinking", "thinking": "", "signature": ""},
        {"type": "text", "text": ""},
    ]
    message = accumulate(events)
    assert message.content[0].thinking == "Let me think."  # type: ignore[union-attr]
    assert message.content[0].signature == ""  # type: ignore[union-attr]
    assert message.content[1].text == "Answer"  # type: ignore[union-attr]


def test_reasoning_field_spellings_are_not_doubled() -> None:
    """OpenRouter sends `reasoning`; vLLM sends the same text in both fields."""
    events = translate([chunk({"reasoning": "a"}), chunk({"reasoning": "b", "reasoning_content": "b"})])
    assert accumulate(events).content[0].thinking == "ab"  # type: ignore[union-attr]


# --- tools --------------------------------------------------------------------------------------------------


def test_text_then_tool() -> None:
    events = translate(
        [
            ROLE,
            chunk({"content": "Checking."}),
            chunk(tools(call(0, id="call_1", name="get_weather", args=""))),
            chunk(tools(call(0, args='{"city": "Par'))),
            chunk(tools(call(0, args='is"}'))),
            chunk(finish="tool_calls"),
        ]
    )
    assert blocks(events)[1] == {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}
    assert json_deltas(events, 1) == ['{"city": "Par', 'is"}']
    message = accumulate(events)
    assert message.content[0].text == "Checking."  # type: ignore[union-attr]
    assert tool_inputs(message) == [("call_1", "get_weather", {"city": "Paris"})]
    assert message.stop_reason == "tool_use"


@pytest.mark.parametrize("finish", ["stop", None])
def test_tool_calls_force_tool_use(finish: str | None) -> None:
    events = translate([chunk(tools(call(0, id="c", name="f", args="{}"))), chunk(finish=finish)])
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_tool_calls_cut_by_length_stay_max_tokens() -> None:
    events = translate([chunk(tools(call(0, id="c", name="f", args='{"a": 1}'))), chunk(finish="length")])
    assert events[-2]["delta"]["stop_reason"] == "max_tokens"


def test_two_parallel_tools() -> None:
    chunks = [
        chunk(tools(call(0, id="call_a", name="f", args=""))),
        chunk(tools(call(0, args='{"x": 1}'))),
        chunk(tools(call(1, id="call_b", name="g", args=""))),
        chunk(tools(call(1, args='{"y": 2}'))),
        chunk(finish="tool_calls"),
    ]
    message = accumulate(translate(chunks))
    assert tool_inputs(message) == [("call_a", "f", {"x": 1}), ("call_b", "g", {"y": 2})]


def test_sequential_tool_calls_stream_without_waiting_for_the_end() -> None:
    """Once a call's arguments are a whole JSON object, the next call's block starts at once."""
    translator = OpenAIStreamTranslator(model=MODEL)
    translator.feed(chunk(tools(call(0, id="call_a", name="f", args=""))))
    translator.feed(chunk(tools(call(0, args='{"x": 1}'))))
    switched = translator.feed(chunk(tools(call(1, id="call_b", name="g", args=""))))
    assert [type(e) for e in switched] == [a.ContentBlockStop, a.ContentBlockStart]
    streamed = translator.feed(chunk(tools(call(1, args='{"y": 2}'))))
    assert [type(e) for e in streamed] == [a.ContentBlockDelta]


def test_interleaved_parallel_tool_fragments() -> None:
    events = translate(
        [
            chunk(tools(call(0, id="call_a", name="f", args=""), call(1, id="call_b", name="g", args=""))),
            chunk(tools(call(0, args='{"x"'))),
            chunk(tools(call(1, args='{"y": "'))),
            chunk(tools(call(0, args=": 1"))),
            chunk(tools(call(1, args='two"}'))),
            chunk(tools(call(0, args="}"))),
            chunk(finish="tool_calls"),
        ]
    )
    assert "".join(json_deltas(events, 0)) == '{"x": 1}'
    assert "".join(json_deltas(events, 1)) == '{"y": "two"}'
    message = accumulate(events)
    assert tool_inputs(message) == [("call_a", "f", {"x": 1}), ("call_b", "g", {"y": "two"})]


def test_gemini_style_reused_index_with_new_ids() -> None:
    events = translate(
        [
            chunk(tools(call(0, id="g1", name="f", args='{"q": "a"}'))),
            chunk(tools(call(0, id="g2", name="f", args='{"q": "b"}'))),
            chunk(tools(call(0, id="g3", name="h", args=""))),
            chunk(finish="stop"),
        ]
    )
    message = accumulate(events)
    assert tool_inputs(message) == [("g1", "f", {"q": "a"}), ("g2", "f", {"q": "b"}), ("g3", "h", {})]
    assert message.stop_reason == "tool_use"


def test_repeated_id_and_name_on_every_fragment_is_one_call() -> None:
    events = translate(
        [
            chunk(tools(call(0, id="c1", name="f", args='{"a":'))),
            chunk(tools(call(0, id="c1", name="f", args=" 1}"))),
        ]
    )
    assert tool_inputs(accumulate(events)) == [("c1", "f", {"a": 1})]


def test_tool_with_empty_arguments_ends_as_empty_object() -> None:
    events = translate([chunk(tools(call(0, id="c", name="now", args=""))), chunk(finish="tool_calls")])
    assert json_deltas(events, 0) == ["{}"]
    assert tool_inputs(accumulate(events)) == [("c", "now", {})]


def test_missing_id_gets_generated_tool_use_id() -> None:
    events = translate([chunk(tools(call(0, name="f", args="{}")))])
    (tool_id, name, value) = tool_inputs(accumulate(events))[0]
    assert tool_id.startswith("toolu_") and name == "f" and value == {}


def test_arguments_buffered_until_name_is_known() -> None:
    translator = OpenAIStreamTranslator(model=MODEL)
    translator.feed(chunk(tools(call(0, id="c", args='{"a": '))))
    before = translator.feed(chunk(tools(call(0, args="1"))))
    assert before == []  # nothing can start without a name
    events = translator.feed(chunk(tools(call(0, name="f", args="}"))))
    assert [type(e) for e in events] == [a.ContentBlockStart, a.ContentBlockDelta]
    assert isinstance(events[1], a.ContentBlockDelta) and events[1].delta.partial_json == '{"a": 1}'


def test_text_after_tools_closes_them_first() -> None:
    events = translate(
        [
            chunk(tools(call(0, id="a", name="f", args='{"x": 1}'), call(1, id="b", name="g", args=""))),
            chunk(tools(call(1, args='{"y": 2}'))),
            chunk({"content": "done"}),
        ]
    )
    message = accumulate(events)
    assert [b.type for b in message.content] == ["tool_use", "tool_use", "text"]
    assert tool_inputs(message) == [("a", "f", {"x": 1}), ("b", "g", {"y": 2})]


def test_only_choice_zero_is_translated() -> None:
    other = o.CHUNK_DECODER.decode(
        json.dumps({"id": "c", "created": 1, "model": "m", "choices": [{"index": 1, "delta": {"content": "other"}}]})
    )
    events = translate([chunk({"content": "mine"}), other])
    assert accumulate(events).content[0].text == "mine"  # type: ignore[union-attr]


# --- through the real SDK -----------------------------------------------------------------------------------


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def test_sdk_messages_stream_end_to_end() -> None:
    """The SDK's own SSE decoder and stream helper accept the events once framed (`event:` + `data:`)."""
    events = translate(
        [
            ROLE,
            chunk({"reasoning_content": "hmm"}),
            chunk({"content": "Hi "}),
            chunk(tools(call(0, id="c1", name="f", args=""), call(1, id="c2", name="g", args=""))),
            chunk(tools(call(1, args='{"b": 2}'))),
            chunk(tools(call(0, args='{"a": 1}'))),
            chunk(finish="tool_calls"),
            chunk(choices=False, usage=usage(50, 20, cached=10)),
        ]
    )
    body = sse(events)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://gateway.test",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
        _strict_response_validation=True,
    )
    with client.messages.stream(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Hi "
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert tool_inputs(final) == [("c1", "f", {"a": 1}), ("c2", "g", {"b": 2})]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.cache_read_input_tokens) == (
        40,
        20,
        10,
    )
