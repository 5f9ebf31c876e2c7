"""tool mode's pure layer: the request rewrite checked on every provider's wire (through the real translators),
and the answer rewrite (non-stream and stream) checked the way the anthropic and openai SDKs read it."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
from anthropic.types import Message, TextBlock
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.call import ChatCall
from gateway.schemas import anthropic as a
from gateway.schemas import openai as o
from gateway.streaming import MessageAssembler, message_to_events
from gateway.translate.response import message_to_chat_completion
from gateway_plugins.provider_bedrock.transform import converse_request
from gateway_plugins.provider_gemini.transform import messages_to_gemini
from gateway_plugins.provider_mock.provider import reply_to
from gateway_plugins.provider_openai.chat_request import messages_to_chat_request
from gateway_plugins.provider_openai.chat_response import chat_completion_to_message
from gateway_plugins.provider_openai.chat_stream import OpenAIStreamTranslator
from gateway_plugins.structured_output.tool_mode import (
    JSON_OBJECT_SCHEMA,
    TOOL,
    ToolPlan,
    ToolStream,
    answer_from_tool,
    to_tool_mode,
    tool_input_schema,
)
from tests.unit.test_stream_to_anthropic import EVENT_ADAPTER, ROLE, accumulate, call, check_order, chunk, tools
from tests.unit.test_stream_to_openai import encode, end, final, frames, start, text, thinking, tool

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
LIST_SCHEMA = {"type": "array", "items": {"$ref": "#/$defs/Row"}, "$defs": {"Row": {"type": "integer"}}}
CLIENT_TOOL = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}


def request(**fields: Any) -> a.MessagesRequest:
    body = {"model": "m", "max_tokens": 256, "messages": [{"role": "user", "content": "Where?"}], **fields}
    return a.REQUEST_DECODER.decode(json.dumps(body))


def structured(schema: object = SCHEMA, **fields: Any) -> a.MessagesRequest:
    return request(output_config={"format": {"type": "json_schema", "schema": schema}}, **fields)


def schema_of(req: a.MessagesRequest) -> msgspec.Raw:
    assert isinstance(req.output_config, a.OutputConfig) and isinstance(req.output_config.format, a.OutputFormat)
    assert isinstance(req.output_config.format.schema, msgspec.Raw)
    return req.output_config.format.schema


def wire(value: object) -> Any:
    return json.loads(msgspec.json.encode(value))


def tool_mode(req: a.MessagesRequest, **kwargs: Any) -> tuple[a.MessagesRequest, ToolPlan]:
    return to_tool_mode(req, schema_of(req), **kwargs)


# --- the request --------------------------------------------------------------------------------------------


def test_the_tool_is_forced_and_the_output_format_goes_while_effort_stays() -> None:
    req = structured()
    req.output_config.effort = "low"  # type: ignore[union-attr]
    out, plan = tool_mode(req)
    body = wire(out)
    assert plan == ToolPlan(name=TOOL, wrapped=False, forced=True)
    assert body["tools"] == [{"name": TOOL, "description": body["tools"][0]["description"], "input_schema": SCHEMA}]
    assert body["tool_choice"] == {"type": "tool", "name": TOOL}
    assert body["output_config"] == {"effort": "low"}
    assert "output_format" not in body and "system" not in body
    assert wire(req)["output_config"]["format"]["schema"] == SCHEMA  # the client's request is left as it was


def test_the_beta_output_format_goes_too_and_an_empty_output_config_with_it() -> None:
    req = request(output_format={"type": "json_schema", "schema": SCHEMA})
    assert isinstance(req.output_format, a.OutputFormat) and isinstance(req.output_format.schema, msgspec.Raw)
    body = wire(to_tool_mode(structured(), req.output_format.schema)[0])
    assert "output_config" not in body and "output_format" not in body
    body = wire(to_tool_mode(req, req.output_format.schema)[0])
    assert "output_format" not in body and body["tool_choice"]["name"] == TOOL


def test_client_tools_come_first_and_any_tool_is_required() -> None:
    out, plan = tool_mode(structured(tools=[CLIENT_TOOL], tool_choice={"type": "auto"}))
    assert [t.name for t in out.tools or []] == ["lookup", TOOL]
    assert wire(out.tool_choice) == {"type": "any"} and plan.forced


def test_a_client_tool_named_like_ours_gets_ours_a_suffix() -> None:
    taken = [{**CLIENT_TOOL, "name": TOOL}, {**CLIENT_TOOL, "name": TOOL + "_1"}]
    out, plan = tool_mode(structured(tools=taken))
    assert plan.name == TOOL + "_2" and [t.name for t in out.tools or []] == [TOOL, TOOL + "_1", TOOL + "_2"]


def test_a_client_forcing_its_own_tool_keeps_its_choice_and_none_forces_ours() -> None:
    forced = {"type": "tool", "name": "lookup", "disable_parallel_tool_use": True}
    out, _ = tool_mode(structured(tools=[CLIENT_TOOL], tool_choice=forced))
    assert wire(out.tool_choice) == forced
    out, _ = tool_mode(structured(tools=[CLIENT_TOOL], tool_choice={"type": "none"}))
    assert wire(out.tool_choice) == {"type": "tool", "name": TOOL}


def test_with_thinking_the_choice_is_auto_and_the_system_prompt_says_to_call_the_tool() -> None:
    thinking_on = {"type": "enabled", "budget_tokens": 1024}
    out, plan = tool_mode(structured(thinking=thinking_on, system="Be brief."))
    assert wire(out.tool_choice) == {"type": "auto"} and not plan.forced
    assert isinstance(out.system, str) and out.system.startswith("Be brief.\n\n") and TOOL in out.system
    marked = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    out, _ = tool_mode(structured(thinking={"type": "adaptive"}, system=marked))
    system = wire(out)["system"]
    assert system[0] == marked[0] and len(system) == 2 and TOOL in system[1]["text"]  # the cached prefix stays
    out, plan = tool_mode(structured(thinking={"type": "disabled"}))
    assert plan.forced and "system" not in wire(out)


def test_a_root_that_is_not_an_object_is_wrapped_with_its_defs_moved_up() -> None:
    wrapped, was_wrapped = tool_input_schema(msgspec.Raw(json.dumps(LIST_SCHEMA).encode()))
    assert was_wrapped and json.loads(bytes(wrapped)) == {
        "type": "object",
        "$defs": LIST_SCHEMA["$defs"],
        "properties": {"value": {"type": "array", "items": {"$ref": "#/$defs/Row"}}},
        "required": ["value"],
        "additionalProperties": False,
    }
    for schema in ({}, True, {"type": ["object", "null"]}, {"anyOf": [{"type": "object"}]}):
        assert tool_input_schema(msgspec.Raw(json.dumps(schema).encode()))[1], schema
    exact = msgspec.Raw(b'{"type" : "object"}')
    assert tool_input_schema(exact) == (exact, False)  # the client's bytes, untouched
    assert tool_input_schema(JSON_OBJECT_SCHEMA) == (JSON_OBJECT_SCHEMA, False)
    not_a_schema, _ = tool_input_schema(msgspec.Raw(b"[1]"))  # refused before this; still no crash here
    assert json.loads(bytes(not_a_schema))["properties"] == {"value": [1]}


def test_strict_marks_the_tool_strict_only_when_asked() -> None:
    assert wire(tool_mode(structured(), strict=True)[0])["tools"][0]["strict"] is True
    assert "strict" not in wire(tool_mode(structured())[0])["tools"][0]


# --- the request on each provider's wire ---------------------------------------------------------------------


def test_openai_wire_forces_the_function_and_sends_no_response_format() -> None:
    req = structured()
    assert "response_format" in wire(messages_to_chat_request(req, model="up"))  # what tool mode takes away
    body = wire(messages_to_chat_request(tool_mode(req)[0], model="up"))
    assert "response_format" not in body
    assert body["tools"][0]["function"]["name"] == TOOL and body["tools"][0]["function"]["parameters"] == SCHEMA
    assert body["tool_choice"] == {"type": "function", "function": {"name": TOOL}}
    body = wire(messages_to_chat_request(tool_mode(structured(tools=[CLIENT_TOOL]))[0], model="up"))
    assert body["tool_choice"] == "required"


def test_gemini_wire_allows_only_our_function_and_asks_for_no_json_mime_type() -> None:
    req = structured()
    assert "responseMimeType" in wire(messages_to_gemini(req))["generationConfig"]
    body = wire(messages_to_gemini(tool_mode(req)[0]))
    assert "responseMimeType" not in body["generationConfig"]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [TOOL]}}
    assert body["tools"][0]["functionDeclarations"][0]["name"] == TOOL


def test_bedrock_wire_forces_the_tool_and_sends_no_text_format() -> None:
    req = structured(LIST_SCHEMA)
    assert "textFormat" in wire(converse_request(req, model="anthropic.claude-x"))["outputConfig"]
    body = wire(converse_request(tool_mode(req)[0], model="anthropic.claude-x"))
    assert "outputConfig" not in body
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": TOOL}}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["properties"]["value"]["type"] == "array"


def test_the_mock_provider_answers_tool_mode_with_the_shape_asked_for() -> None:
    """provider_mock calls a forced tool with an input made from its schema: wrapped roots come out unwrapped."""
    for schema, expected_type in ((SCHEMA, dict), (LIST_SCHEMA, list), ({"enum": ["a", "b"]}, str)):
        out, plan = to_tool_mode(request(), msgspec.Raw(json.dumps(schema).encode()))
        answer = answer_from_tool(reply_to(ChatCall(dialect="anthropic", stream=False, request=out)), plan)
        assert answer is not None and answer.stop_reason == "end_turn" and isinstance(answer.content[0].text, str)
        assert isinstance(json.loads(answer.content[0].text), expected_type), schema


# --- the answer ---------------------------------------------------------------------------------------------


def message(*blocks: a.ContentBlock, stop: str = "tool_use") -> a.Message:
    return a.Message(id="msg_1", model="m", content=list(blocks), stop_reason=stop, usage=a.Usage(output_tokens=9))


def call_block(arguments: str, name: str = TOOL, block_id: str = "toolu_1") -> a.ContentBlock:
    return a.ContentBlock(type="tool_use", id=block_id, name=name, input=msgspec.Raw(arguments.encode()))


def prose(words: str) -> a.ContentBlock:
    return a.ContentBlock(type="text", text=words)


PLAN = ToolPlan(name=TOOL)
WRAPPED = ToolPlan(name=TOOL, wrapped=True)


def test_the_call_becomes_the_text_of_an_end_turn_answer() -> None:
    answer = answer_from_tool(message(prose("Here it is:"), call_block('{"city": "Oslo"}')), PLAN)
    assert answer is not None and answer.stop_reason == "end_turn" and answer.usage.output_tokens == 9
    assert [(b.type, b.text) for b in answer.content] == [("text", '{"city": "Oslo"}')]


def test_an_openai_upstream_call_reaches_an_openai_client_as_content_with_finish_reason_stop() -> None:
    upstream = o.COMPLETION_DECODER.decode(
        json.dumps(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": "up",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "tool_calls",
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": "call_1",
                                    "type": "function",
                                    "function": {"name": TOOL, "arguments": '{"value":[1,2]}'},
                                }
                            ],
                        },
                    }
                ],
            }
        )
    )
    answer = answer_from_tool(chat_completion_to_message(upstream, model="up"), WRAPPED)
    assert answer is not None
    body = wire(message_to_chat_completion(answer, model="up", created=1))
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["message"]["content"] == "[1,2]" and "tool_calls" not in body["choices"][0]["message"]


def test_a_wrapped_answer_is_the_exact_text_of_its_value_and_a_stray_input_comes_back_whole() -> None:
    answer = answer_from_tool(message(call_block('{"value": [1, 2.50, "x"]}')), WRAPPED)
    assert answer is not None and answer.content[0].text == '[1, 2.50, "x"]'
    answer = answer_from_tool(message(call_block('{"rows": [1]}')), WRAPPED)
    assert answer is not None and answer.content[0].text == '{"rows": [1]}'


def test_no_call_of_ours_is_for_the_caller_to_decide() -> None:
    assert answer_from_tool(message(prose('{"city": "Oslo"}'), stop="end_turn"), PLAN) is None
    assert answer_from_tool(message(call_block("{}", name="lookup")), PLAN) is None


def test_a_client_tool_called_alongside_stays_and_so_does_tool_use() -> None:
    answer = answer_from_tool(message(call_block("{}", "lookup", "toolu_9"), call_block('{"city":"Oslo"}')), PLAN)
    assert answer is not None and answer.stop_reason == "tool_use"
    assert [b.type for b in answer.content] == ["tool_use", "text"] and answer.content[0].name == "lookup"


def test_a_second_call_is_dropped_and_a_cut_answer_keeps_max_tokens() -> None:
    answer = answer_from_tool(message(call_block('{"city":"A"}'), call_block('{"city":"B"}', block_id="t2")), PLAN)
    assert answer is not None and [b.text for b in answer.content] == ['{"city":"A"}']
    answer = answer_from_tool(message(call_block('{"city":"Os'), stop="max_tokens"), PLAN)
    assert answer is not None and answer.stop_reason == "max_tokens"


# --- the stream ---------------------------------------------------------------------------------------------


def text_at(sdk_message: Message, index: int) -> str:
    block = sdk_message.content[index]
    assert isinstance(block, TextBlock), block
    return block.text


def rewrite(events: list[a.StreamEvent], plan: ToolPlan = PLAN, *, pieces: int = 1) -> tuple[ToolStream, list[Any]]:
    """Feed the events in `pieces` chunks; the output as wire dicts, checked as the anthropic SDK reads them."""
    stream = ToolStream(plan)
    size = -(-len(events) // pieces)
    out = [e for i in range(0, len(events), size) for e in stream.events(events[i : i + size])]
    body = [json.loads(a.ENCODER.encode(event)) for event in out]
    for event in body:
        EVENT_ADAPTER.validate_python(event)
    check_order(body)
    return stream, body


def test_the_calls_fragments_stream_as_text_and_the_stop_reason_is_end_turn() -> None:
    events = [start(), *tool(0, "toolu_1", TOOL, "", '{"city"', ': "Oslo"}'), *end("tool_use")]
    stream, body = rewrite(events, pieces=len(events))
    deltas = [e["delta"] for e in body if e["type"] == "content_block_delta"]
    assert deltas == [{"type": "text_delta", "text": '{"city"'}, {"type": "text_delta", "text": ': "Oslo"}'}]
    final_message = accumulate(body)
    assert final_message.stop_reason == "end_turn"
    assert text_at(final_message, 0) == '{"city": "Oslo"}' == stream.text and stream.called


def test_an_openai_upstream_stream_reaches_an_openai_client_as_content() -> None:
    fragments = ['{"ci', 'ty": ', '"Oslo"}']
    chunks = [ROLE, chunk(tools(call(0, id="call_1", name=TOOL, args="")))]
    chunks += [chunk(tools(call(0, args=part))) for part in fragments] + [chunk(finish="tool_calls")]
    translator = OpenAIStreamTranslator(model="up")
    stream = ToolStream(PLAN)
    events = [e for item in chunks for e in stream.events(translator.feed(item))]
    events += stream.events(translator.finish())
    raw = encode(events)
    assert all("tool_calls" not in f["choices"][0]["delta"] for f in frames(raw)[:-1] if f["choices"])
    completion = final(raw)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == '{"city": "Oslo"}' and not completion.choices[0].message.tool_calls


def test_prose_before_the_call_is_dropped_and_the_blocks_renumbered() -> None:
    events = [start(), *thinking(0, "hmm"), *text(1, "Sure, ", "here:"), *tool(2, "t", TOOL, '{"city":"X"}')]
    stream, body = rewrite([*events, *end("tool_use")])
    blocks = [e["content_block"]["type"] for e in body if e["type"] == "content_block_start"]
    assert blocks == ["thinking", "text"] and "Sure" not in json.dumps(body)
    assert text_at(accumulate(body), 1) == '{"city":"X"}' == stream.text


def test_text_with_no_call_is_sent_when_the_message_ends_and_is_the_answer() -> None:
    stream = ToolStream(PLAN)
    held = stream.events([start(), *text(0, '{"city":', '"Oslo"}')])
    assert [type(e) for e in held] == [a.MessageStart]  # nothing of the text yet: a call may follow
    rest = stream.events(end("end_turn"))
    body = [json.loads(a.ENCODER.encode(e)) for e in (*held, *rest)]
    check_order(body)
    assert text_at(accumulate(body), 0) == '{"city":"Oslo"}' == stream.text and not stream.called


def test_a_wrapped_value_is_sent_whole_at_the_block_stop() -> None:
    events = [start(), *tool(0, "t", TOOL, '{"value": [1', ", 2]}"), *end("tool_use")]
    stream, body = rewrite(events, WRAPPED)
    deltas = [e["delta"]["text"] for e in body if e["type"] == "content_block_delta"]
    assert deltas == ["[1, 2]"] and stream.text == "[1, 2]"


def test_a_client_tool_call_passes_untouched_with_tool_use() -> None:
    events = [start(), *tool(0, "toolu_9", "lookup", '{"q":1}'), *end("tool_use")]
    stream, body = rewrite(events)
    final_message = accumulate(body)
    assert final_message.stop_reason == "tool_use" and final_message.content[0].type == "tool_use"
    assert stream.client_tool and not stream.called and stream.text == ""


def test_a_call_with_no_fragments_answers_the_input_it_started_with() -> None:
    """Anthropic streams an empty input as one empty fragment: the answer is then "{}", as without streaming."""
    stream, body = rewrite([start(), *tool(0, "t", TOOL, ""), *end("tool_use")])
    assert text_at(accumulate(body), 0) == "{}" == stream.text


def test_a_cut_stream_keeps_max_tokens_and_its_partial_text() -> None:
    stream, body = rewrite([start(), *tool(0, "t", TOOL, '{"city": "Os'), *end("max_tokens")])
    assert body[-2]["delta"]["stop_reason"] == "max_tokens" and stream.text == '{"city": "Os'


@settings(max_examples=150, deadline=None)
@given(
    answer=st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=8), max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
    pieces=st.integers(min_value=1, max_value=6),
    wrapped=st.booleans(),
)
def test_any_split_of_the_input_streams_the_same_answer_as_the_non_stream_rewrite(
    answer: dict[str, Any], cuts: list[int], pieces: int, wrapped: bool
) -> None:
    plan = ToolPlan(name=TOOL, wrapped=wrapped)
    whole = json.dumps({"value": answer} if wrapped else answer)
    bounds = sorted({min(c, len(whole)) for c in cuts} | {0, len(whole)})
    fragments = [whole[i:j] for i, j in itertools.pairwise(bounds)]
    stream, body = rewrite([start(), *tool(0, "t", TOOL, *fragments), *end("tool_use")], plan, pieces=pieces)
    expected = answer_from_tool(message(call_block(whole)), plan)
    assert expected is not None and text_at(accumulate(body), 0) == expected.content[0].text == stream.text
    assert json.loads(stream.text) == answer


def test_message_to_events_of_a_call_streams_like_the_upstream_would() -> None:
    """A buffered stream re-emits the repaired answer with message_to_events: the same rewrite applies."""
    assembler = MessageAssembler()
    stream = ToolStream(PLAN)
    for event in stream.events(message_to_events(message(call_block('{"city":"Oslo"}')), pieces=3)):
        assembler.feed(event)
    rebuilt = assembler.message()
    assert rebuilt is not None and rebuilt.stop_reason == "end_turn" and rebuilt.content[0].text == '{"city":"Oslo"}'
