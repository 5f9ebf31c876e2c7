"""Tool mode (one forced synthetic tool whose input schema is the client's) on every provider kind: by default on
an `openai` provider whose base URL is not api.openai.com, a custom OpenAI-compatible server, a preset, a Bedrock
family without structured output and the mock; by config on Anthropic, Gemini and Bedrock. The client sees an
ordinary text answer (`end_turn` / `stop`), never the tool; a repair answers the tool call with an error result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.testing import FakeUpstream, MakeGateway
from tests.fakes.structured import (
    ANTHROPIC,
    BEDROCK,
    BEDROCK_LLAMA,
    GEMINI,
    GOOD,
    GROQ,
    MISSING,
    OPENAI,
    PROSE,
    SCHEMA,
    TOOL,
    VLLM,
    WRONG_TYPE,
    Wire,
)
from tests.structured_output.matrix import DIALECTS, HI, City, Dialect, ask

DEFAULT_TOOL = (OPENAI, VLLM, GROQ, BEDROCK_LLAMA)  # tool mode with no structured_output config
FORCED_TOOL = (ANTHROPIC, GEMINI, BEDROCK)  # native by default: tool by config
TOOL_WIRES = (*DEFAULT_TOOL, *FORCED_TOOL)
WIRES = pytest.mark.parametrize("wire", TOOL_WIRES, ids=[w.name for w in TOOL_WIRES])
BOTH = pytest.mark.parametrize("dialect", DIALECTS)
GOOD_CITY = City.model_validate_json(GOOD)


def tool_config(wire: Wire, url: str, **extra: Any) -> dict[str, Any]:
    structured: dict[str, Any] = {"mode": "tool"} if wire in FORCED_TOOL else {}
    structured.update(extra)
    return wire.config(url, structured or None)


def assert_tool_request(wire: Wire, sent: Any) -> None:
    """The request forces the synthetic tool and carries no native field."""
    assert wire.forced_tool(sent) == TOOL, sent
    assert wire.native_schema(sent) is None, sent
    assert TOOL in json.dumps(sent)


@WIRES
@BOTH
async def test_the_tool_call_becomes_a_text_answer(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.script(wire.path, wire.tool(GOOD, 10, 5))
    gw = await make_gateway(tool_config(wire, fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 200, asked
    assert asked.parsed == GOOD_CITY
    assert asked.finish == ("end_turn" if dialect == "anthropic" else "stop")
    assert asked.tool_calls == 0  # the synthetic tool never reaches the client
    assert asked.headers["x-bf-structured-output"] == "tool"
    assert asked.headers["x-bf-structured-output-attempts"] == "1"
    [sent] = wire.sent(fake_upstream.requests)
    assert_tool_request(wire, sent)


@WIRES
@BOTH
async def test_a_missing_field_is_repaired_with_an_error_tool_result(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.script(wire.path, wire.tool(MISSING, 100, 10), wire.tool(GOOD, 150, 12))
    gw = await make_gateway(tool_config(wire, fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 200, asked
    assert asked.parsed == GOOD_CITY
    assert asked.headers["x-bf-structured-output-attempts"] == "2"
    first, repair = wire.sent(fake_upstream.requests)
    assert_tool_request(wire, repair)
    (said_role, said), (result_role, result) = wire.turns(repair)[-2:]
    assert said_role == "assistant" and TOOL in said and "Paris" in said, repair  # the tool call, as made
    assert result_role in ("user", "tool") and "population" in result, repair  # its error result
    assert "error" in result.lower(), repair
    assert len(wire.turns(repair)) == len(wire.turns(first)) + 2


@WIRES
@BOTH
async def test_json_in_text_instead_of_the_call_is_read(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    """An upstream that ignores tool_choice and answers the JSON in text still answers the contract."""
    fake_upstream.script(wire.path, wire.text(GOOD, 10, 5))
    gw = await make_gateway(tool_config(wire, fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 200, asked
    assert asked.parsed == GOOD_CITY


@WIRES
@BOTH
async def test_prose_instead_of_the_call_is_a_502_after_one_repair(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.default(wire.path, wire.text(PROSE, 10, 5))
    gw = await make_gateway(tool_config(wire, fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 502, asked
    assert "(2 answers)" in asked.text
    assert len(wire.sent(fake_upstream.requests)) == 2


@WIRES
@pytest.mark.parametrize("repairs", [0, 2])
async def test_still_invalid_is_a_502_naming_the_path(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, repairs: int
) -> None:
    fake_upstream.default(wire.path, wire.tool(WRONG_TYPE, 10, 5))
    gw = await make_gateway(tool_config(wire, fake_upstream.url, max_repair_attempts=repairs))
    for dialect in DIALECTS:
        asked = await ask(gw, wire.routed, dialect)
        assert asked.status == 502, asked
        assert "population" in asked.text and "integer" in asked.text
        assert ("(1 answer)" if repairs == 0 else f"({repairs + 1} answers)") in asked.text
    assert len(wire.sent(fake_upstream.requests)) == 2 * (repairs + 1)


@WIRES
async def test_the_tool_takes_the_clients_schema(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire
) -> None:
    fake_upstream.script(wire.path, wire.tool(GOOD, 10, 5))
    gw = await make_gateway(tool_config(wire, fake_upstream.url))
    async with gw.anthropic() as client:
        await client.messages.create(
            model=wire.routed,
            max_tokens=100,
            messages=[{"role": "user", "content": "JSON"}],
            output_config={"format": {"type": "json_schema", "schema": SCHEMA}},
        )
    [sent] = wire.sent(fake_upstream.requests)
    text = json.dumps(sent)
    assert '"population"' in text and '"required"' in text


# --- the mock ----------------------------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("stream", [False, True])
async def test_the_mock_answers_in_tool_mode(make_gateway: MakeGateway, dialect: Dialect, stream: bool) -> None:
    gw = await make_gateway({"providers": {"mock": {}}})
    asked = await ask(gw, "mock/mock-model", dialect, stream=stream)
    assert asked.status == 200, asked
    assert isinstance(asked.parsed, City)
    assert asked.headers["x-bf-structured-output"] == "tool"
    assert asked.tool_calls == 0


ARRAY_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"$ref": "#/$defs/city"},
    "$defs": {"city": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
}


@WIRES
async def test_a_root_that_is_not_an_object_is_wrapped_and_unwrapped(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire
) -> None:
    """Tool inputs are objects: an array schema goes up as {"value": ...} (its $defs with it); the client gets
    the array, repaired like any other answer."""
    fake_upstream.script(
        wire.path, wire.tool('{"value": [{"nom": "Paris"}]}', 10, 5), wire.tool('{"value": [{"name": "Paris"}]}', 10, 5)
    )
    gw = await make_gateway(tool_config(wire, fake_upstream.url))
    rf = {"type": "json_schema", "json_schema": {"name": "cities", "schema": ARRAY_SCHEMA}}
    async with gw.http() as http:
        answer = await http.post("/v1/chat/completions", {"model": wire.routed, "messages": HI, "response_format": rf})
    assert answer.status == 200, answer
    assert json.loads(answer.json()["choices"][0]["message"]["content"]) == [{"name": "Paris"}]
    assert answer.headers["x-bf-structured-output-attempts"] == "2"
    first, repair = wire.sent(fake_upstream.requests)
    assert '"value"' in json.dumps(first) and wire.forced_tool(first) == TOOL
    assert "name" in wire.turns(repair)[-1][1]  # the error names the missing property
