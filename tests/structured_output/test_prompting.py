"""prompt mode, fence stripping and repair turns: the pure layer, with the rewritten requests checked on the
OpenAI, Gemini and Bedrock wires through the real translators."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
from anthropic.types import TextBlock, ThinkingBlock, ToolUseBlock
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.schemas import anthropic as a
from gateway.schemas import openai as o
from gateway.translate import request_to_anthropic
from gateway.translate.request_to_anthropic import chat_request_to_messages
from gateway_plugins.provider_bedrock.transform import converse_request
from gateway_plugins.provider_gemini.transform import messages_to_gemini
from gateway_plugins.provider_openai.chat_request import messages_to_chat_request
from gateway_plugins.structured_output.prompting import (
    EMPTY_ANSWER,
    JSON_OBJECT_INSTRUCTION,
    MAX_ERROR_CHARS,
    SCHEMA_INSTRUCTION,
    FenceStripper,
    PromptStream,
    repair_messages,
    strip_fences,
    to_prompt_mode,
)
from gateway_plugins.structured_output.tool_mode import TOOL, ToolPlan, to_tool_mode
from tests.unit.test_stream_to_anthropic import accumulate, check_order
from tests.unit.test_stream_to_openai import encode, end, final, start, text, thinking, tool

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
PRETTY = msgspec.Raw(json.dumps(SCHEMA, indent=2).encode())
COMPACT = '{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}'


def request(**fields: Any) -> a.MessagesRequest:
    body = {"model": "m", "max_tokens": 256, "messages": [{"role": "user", "content": "Where?"}], **fields}
    return a.REQUEST_DECODER.decode(json.dumps(body))


def structured(**fields: Any) -> a.MessagesRequest:
    return request(output_config={"effort": "high", "format": {"type": "json_schema", "schema": SCHEMA}}, **fields)


def wire(value: object) -> Any:
    return json.loads(msgspec.json.encode(value))


# --- prompt mode --------------------------------------------------------------------------------------------


def test_the_schema_goes_compact_into_the_system_prompt_after_the_clients() -> None:
    out = to_prompt_mode(structured(system="Be brief."), PRETTY)
    assert out.system == f"Be brief.\n\n{SCHEMA_INSTRUCTION}{COMPACT}"
    assert wire(out)["output_config"] == {"effort": "high"} and "output_format" not in wire(out)
    assert to_prompt_mode(structured(), PRETTY).system == SCHEMA_INSTRUCTION + COMPACT


def test_a_system_prompt_in_blocks_keeps_its_cache_marker_where_it_was() -> None:
    marked = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    system = wire(to_prompt_mode(structured(system=marked), PRETTY))["system"]
    assert system == [marked[0], {"type": "text", "text": SCHEMA_INSTRUCTION + COMPACT}]


def test_json_object_asks_for_an_object_once_even_after_the_openai_dialect_did() -> None:
    assert JSON_OBJECT_INSTRUCTION == request_to_anthropic.JSON_OBJECT_INSTRUCTION
    chat = o.REQUEST_DECODER.decode(
        json.dumps(
            {
                "model": "m",
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where?"}],
                "response_format": {"type": "json_object"},
            }
        )
    )
    canonical = chat_request_to_messages(chat, default_max_tokens=100)
    out = to_prompt_mode(canonical, None, json_object=True)
    assert json.dumps(wire(out)["system"]).count(JSON_OBJECT_INSTRUCTION) == 1
    assert to_prompt_mode(request(), None, json_object=True).system == JSON_OBJECT_INSTRUCTION


def test_on_each_wire_the_schema_is_in_the_system_text_and_no_structured_field_is_sent() -> None:
    out = to_prompt_mode(structured(system="Be brief."), PRETTY)
    openai_body = wire(messages_to_chat_request(out, model="up"))
    assert "response_format" not in openai_body and openai_body["reasoning_effort"] == "high"
    assert openai_body["messages"][0] == {"role": "system", "content": out.system}
    gemini_body = wire(messages_to_gemini(out))
    assert "responseMimeType" not in gemini_body["generationConfig"]
    assert gemini_body["systemInstruction"] == {"parts": [{"text": out.system}]}
    bedrock_body = wire(converse_request(out, model="meta.llama3-70b"))
    assert bedrock_body["outputConfig"] == {"effort": "high"} and bedrock_body["system"] == [{"text": out.system}]


# --- fences -------------------------------------------------------------------------------------------------


def test_one_fence_around_the_whole_answer_is_removed() -> None:
    assert strip_fences('```json\n{"a": 1}\n```') == '{"a": 1}'
    assert strip_fences("\n  ```\r\n[1]\n```  \n") == "[1]"
    assert strip_fences('```JSON \n{"a": 1}') == '{"a": 1}'  # cut off before its closing fence
    assert strip_fences('```json\n{"a": "```"}\n```') == '{"a": "```"}'


def test_anything_else_is_left_for_validation_to_judge() -> None:
    assert strip_fences('  {"a": 1}\n') == '{"a": 1}\n'
    assert strip_fences('Here it is:\n```json\n{"a": 1}\n```') == 'Here it is:\n```json\n{"a": 1}\n```'
    assert strip_fences('```json {"a": 1}```') == '```json {"a": 1}```'  # no line of its own: not a fence
    assert strip_fences("``") == "``" and strip_fences("") == ""


def strip_streamed(pieces: list[str]) -> str:
    stripper = FenceStripper()
    return "".join([*(stripper.feed(piece) for piece in pieces), stripper.finish()])


def test_a_streamed_fence_is_removed_holding_back_only_a_few_characters() -> None:
    body = '{"city": "Oslo", "rows": [1, 2, 3]}'
    for opening in ("", "```json\n"):
        stripper = FenceStripper()
        assert "".join(stripper.feed(c) for c in opening) == ""
        sent = ""
        for i, char in enumerate(body):
            sent += stripper.feed(char)
            assert len(body[: i + 1]) - len(sent) <= 1, sent  # at most a space, until the next character
        closing = "".join(stripper.feed(c) for c in ("\n", "``", "`", " "))
        assert sent == body and closing == ("" if opening else "\n``` ") and stripper.finish() == ""


ALPHABET = st.sampled_from(["`", "```", "```json\n", "\n", " ", "\r\n", "{", "}", '"a"', ":", "1", "x", "json"])


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(ALPHABET, max_size=14), cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6))
def test_any_split_of_any_text_streams_to_what_strip_fences_gives(parts: list[str], cuts: list[int]) -> None:
    whole = "".join(parts)
    bounds = sorted({min(c, len(whole)) for c in cuts} | {0, len(whole)})
    pieces = [whole[i:j] for i, j in itertools.pairwise(bounds)]
    assert strip_streamed(pieces) == strip_fences(whole)


# --- repair turns -------------------------------------------------------------------------------------------

PLAN = ToolPlan(name=TOOL)
ERROR = '"city" is a required property'


def test_a_tool_mode_repair_returns_the_call_with_a_failed_result() -> None:
    req, plan = to_tool_mode(structured(), msgspec.Raw(json.dumps(SCHEMA).encode()))
    out = repair_messages(req, '{"town": "Oslo"}', ERROR, plan)
    assert out.messages[:-2] == req.messages and out.tool_choice == req.tool_choice
    call, result = wire(out.messages[-2]), wire(out.messages[-1])
    assert call["role"] == "assistant" and call["content"][0]["name"] == TOOL
    assert call["content"][0]["input"] == {"town": "Oslo"}
    assert result["role"] == "user" and result["content"][0]["tool_use_id"] == call["content"][0]["id"]
    assert result["content"][0]["is_error"] is True and ERROR in result["content"][0]["content"]
    openai_body = wire(messages_to_chat_request(out, model="up"))
    assistant, tool_message = openai_body["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == TOOL
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"town": "Oslo"}
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == assistant["tool_calls"][0]["id"]
    bedrock_body = wire(converse_request(out, model="meta.llama3-70b"))
    assert bedrock_body["messages"][-1]["content"][0]["toolResult"]["status"] == "error"
    gemini_body = wire(messages_to_gemini(out))
    assert gemini_body["contents"][-1]["parts"][0]["functionResponse"]["name"] == TOOL


def test_a_wrapped_answer_goes_back_wrapped() -> None:
    out = repair_messages(request(), "[1, 2]", ERROR, ToolPlan(name=TOOL, wrapped=True))
    assert wire(out.messages[-2])["content"][0]["input"] == {"value": [1, 2]}


def test_other_modes_get_the_answer_as_text_and_a_request_for_corrected_json() -> None:
    out = repair_messages(structured(), "Oslo, I think", ERROR, None)
    assert wire(out.messages[-2:]) == [
        {"role": "assistant", "content": "Oslo, I think"},
        {"role": "user", "content": wire(out.messages[-1])["content"]},
    ]
    assert isinstance(out.messages[-1].content, str) and ERROR in out.messages[-1].content
    assert wire(out)["output_config"]["format"]["schema"] == SCHEMA  # native mode asks again the same way
    body = wire(messages_to_chat_request(out, model="up"))
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_tool_mode_falls_back_to_text_when_the_answer_cannot_be_a_tool_input_or_thinking_is_on() -> None:
    for invalid, plan in (
        ('{"city": "Os', PLAN),  # a stream cut off: not JSON
        ('"Oslo"', PLAN),  # JSON, but a tool's input is an object
        ('{"town": "Oslo"}', ToolPlan(name=TOOL, forced=False)),  # thinking: the signed thinking is not kept
    ):
        out = repair_messages(request(), invalid, ERROR, plan)
        assert out.messages[-2].content == invalid and isinstance(out.messages[-1].content, str), invalid


def test_a_long_error_is_cut_and_an_empty_answer_is_not_sent_empty() -> None:
    out = repair_messages(request(), "  ", "x" * 5000, None)
    assert out.messages[-2].content == EMPTY_ANSWER
    assert isinstance(out.messages[-1].content, str) and MAX_ERROR_CHARS < len(out.messages[-1].content) < 1200


# --- the stream ---------------------------------------------------------------------------------------------


def test_a_streamed_answer_reaches_both_sdks_without_its_fence() -> None:
    pieces = ["```", "json\n{", '"city": ', '"Oslo"}\n', "``", "`"]
    stream = PromptStream()
    events = [start(), *text(0, *pieces), *end("end_turn")]
    out = [e for i in range(0, len(events), 2) for e in stream.events(events[i : i + 2])]
    body = [json.loads(a.ENCODER.encode(event)) for event in out]
    check_order(body)
    block = accumulate(body).content[0]
    assert isinstance(block, TextBlock) and block.text == '{"city": "Oslo"}' == stream.text
    assert all(e["delta"]["text"] for e in body if e["type"] == "content_block_delta")  # no empty deltas sent
    assert final(encode(out)).choices[0].message.content == '{"city": "Oslo"}'


def test_what_is_held_back_goes_out_before_the_block_stops_when_no_fence_closes() -> None:
    stream = PromptStream()
    out = stream.events([start(), *text(0, "```json\n[1,", " 2]\n"), *end("max_tokens")])
    body = [json.loads(a.ENCODER.encode(event)) for event in out]
    check_order(body)
    deltas = [e["delta"]["text"] for e in body if e["type"] == "content_block_delta"]
    assert deltas == ["[1,", " 2]", "\n"] and stream.text == "[1, 2]\n"  # the "\n" might have begun a fence


def test_other_blocks_pass_untouched_and_each_text_block_is_stripped_on_its_own() -> None:
    events = [start(), *thinking(0, "```"), *text(1, "```\n[1]\n```"), *tool(2, "t", "lookup", "{}")]
    stream = PromptStream()
    out = list(stream.events([*events, *end("tool_use")]))
    message = accumulate([json.loads(a.ENCODER.encode(e)) for e in out])
    thought, answer, call = message.content
    assert isinstance(thought, ThinkingBlock) and thought.thinking == "```"  # not a text block: left alone
    assert isinstance(answer, TextBlock) and answer.text == "[1]" == stream.text
    assert isinstance(call, ToolUseBlock) and call.name == "lookup"
