"""Native mode on every provider kind that has a native field (Anthropic `output_config`, OpenAI `response_format`,
Gemini's response schema, Bedrock's `outputConfig.textFormat`), from both SDKs' parse helpers, against fakes that
(a) honour the field, (b) ignore it and answer prose, (c) miss a required field and then answer well on the
repair call, (d) stay invalid (a 502 naming the path, after `max_repair_attempts` more calls)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.testing import FakeUpstream, MakeGateway
from tests.fakes.structured import GEMINI, GOOD, MISSING, NATIVE_WIRES, OPENAI, PROSE, SCHEMA, WRONG_TYPE, Wire
from tests.structured_output.matrix import DIALECTS, HI, City, Dialect, Place, ask

CHAT = "/v1/chat/completions"
GOOD_CITY = City.model_validate_json(GOOD)


def native_config(wire: Wire, url: str, **extra: Any) -> dict[str, Any]:
    """OpenAI at api.openai.com is native by default; the fake's URL is not api.openai.com, so it is forced."""
    structured: dict[str, Any] = {"mode": "native"} if wire is OPENAI else {}
    structured.update(extra)
    return wire.config(url, structured or None)


WIRES = pytest.mark.parametrize("wire", NATIVE_WIRES, ids=[w.name for w in NATIVE_WIRES])
BOTH = pytest.mark.parametrize("dialect", DIALECTS)


@WIRES
@BOTH
async def test_a_native_answer_is_passed(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.script(wire.path, wire.text(GOOD, 10, 5))
    gw = await make_gateway(native_config(wire, fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 200, asked
    assert asked.parsed == GOOD_CITY
    assert asked.finish == ("end_turn" if dialect == "anthropic" else "stop")
    assert asked.headers["x-bf-structured-output"] == "native"
    assert asked.headers["x-bf-structured-output-attempts"] == "1"
    [sent] = wire.sent(fake_upstream.requests)
    schema = wire.native_schema(sent)
    assert schema is not None and set(schema["properties"]) == {"city", "population"}, sent
    assert wire.forced_tool(sent) is None


@WIRES
@BOTH
async def test_a_missing_field_is_repaired_on_the_same_wire(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.script(wire.path, wire.text(MISSING, 100, 10), wire.text(GOOD, 150, 12))
    gw = await make_gateway(native_config(wire, fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 200, asked
    assert asked.parsed == GOOD_CITY
    assert asked.headers["x-bf-structured-output-attempts"] == "2"
    first, repair = wire.sent(fake_upstream.requests)
    assert wire.native_schema(repair) == wire.native_schema(first)  # still asked natively
    (said_role, said), (asked_role, error) = wire.turns(repair)[-2:]
    assert said_role == "assistant" and "Paris" in said, repair
    assert asked_role == "user" and "population" in error, repair  # the validator's error, for the model
    assert len(wire.turns(repair)) == len(wire.turns(first)) + 2


@WIRES
@BOTH
async def test_prose_is_repaired_once_then_a_502(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect
) -> None:
    fake_upstream.default(wire.path, wire.text(PROSE, 10, 5))
    gw = await make_gateway(native_config(wire, fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 502, asked
    assert "not JSON" in asked.text or "JSON" in asked.text
    assert "2 answers" in asked.text
    assert len(wire.sent(fake_upstream.requests)) == 2


@WIRES
@BOTH
@pytest.mark.parametrize("repairs", [0, 2])
async def test_still_invalid_is_a_502_naming_the_path_after_the_configured_repairs(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, dialect: Dialect, repairs: int
) -> None:
    fake_upstream.default(wire.path, wire.text(WRONG_TYPE, 10, 5))
    gw = await make_gateway(native_config(wire, fake_upstream.url, max_repair_attempts=repairs))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 502, asked
    assert "population" in asked.text and "integer" in asked.text
    answers = "1 answer" if repairs == 0 else f"{repairs + 1} answers"
    assert f"({answers})" in asked.text
    assert len(wire.sent(fake_upstream.requests)) == repairs + 1


# --- OpenAI's strict form -------------------------------------------------------------------------------------


async def test_an_optional_field_is_sent_in_openais_strict_form_and_its_null_dropped(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """An Anthropic client's Pydantic model with optional fields, routed to OpenAI natively: every property
    required, the optional ones nullable, objects closed; a null the client's schema does not allow (the model had
    to send something) is not shown, one it allows is kept."""
    answer = '{"city": "Paris", "population": 2100000, "nickname": null, "motto": null}'
    fake_upstream.script(CHAT, OPENAI.text(answer, 10, 5))
    gw = await make_gateway(native_config(OPENAI, fake_upstream.url))
    async with gw.anthropic() as client:
        parsed = await client.messages.parse(model=OPENAI.routed, max_tokens=100, messages=HI, output_format=Place)
    [sent] = fake_upstream.requests_to(CHAT)
    fmt = sent.json["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert sorted(schema["required"]) == ["city", "motto", "nickname", "population"]
    assert schema["additionalProperties"] is False
    assert {"type": "null"} in schema["properties"]["nickname"]["anyOf"]
    assert "null" in schema["properties"]["motto"]["type"]
    text = parsed.content[0].text  # type: ignore[union-attr]
    assert json.loads(text) == {"city": "Paris", "population": 2100000, "nickname": None}
    assert parsed.parsed_output == Place(city="Paris", population=2100000)


async def test_a_stream_that_needs_the_strict_form_is_served_in_tool_mode(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """The strict form's added nulls would reach the client as they stream: such a stream goes in tool mode (no
    strict form), and the client's own schema is what the answer is held to."""
    answer = '{"city": "Paris", "population": 2100000}'
    fake_upstream.script(CHAT, OPENAI.stream_tool(answer))
    gw = await make_gateway(native_config(OPENAI, fake_upstream.url))
    asked = await ask(gw, OPENAI.routed, "anthropic", stream=True, schema=Place)
    assert asked.status == 200 and asked.parsed == Place(city="Paris", population=2100000), asked
    assert asked.headers["x-bf-structured-output"] == "tool"
    [sent] = OPENAI.sent(fake_upstream.requests)
    assert "response_format" not in sent and OPENAI.forced_tool(sent) == "bf_structured_output"


@pytest.mark.parametrize(
    "schema",
    [
        {"anyOf": [SCHEMA, {"type": "string"}]},
        {"type": "object", "additionalProperties": {"type": "integer"}},
    ],
    ids=["anyOf-root", "open-map"],
)
async def test_a_schema_with_no_strict_form_falls_back_to_tool_mode(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, schema: dict[str, Any]
) -> None:
    answer = '{"city": "Paris", "population": 2100000}' if "anyOf" in schema else '{"paris": 2100000}'
    fake_upstream.script(CHAT, OPENAI.tool(answer if "anyOf" not in schema else '{"value": ' + answer + "}", 10, 5))
    gw = await make_gateway(native_config(OPENAI, fake_upstream.url))
    async with gw.anthropic() as client:
        raw = await client.messages.with_raw_response.create(
            model=OPENAI.routed,
            max_tokens=100,
            messages=[{"role": "user", "content": "JSON please"}],
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )
    message = await raw.parse()
    assert raw.headers["x-bf-structured-output"] == "tool"
    assert message.stop_reason == "end_turn" and [b.type for b in message.content] == ["text"]
    assert json.loads(message.content[0].text) == json.loads(answer)  # type: ignore[union-attr]
    [sent] = fake_upstream.requests_to(CHAT)
    assert "response_format" not in sent.json
    assert OPENAI.forced_tool(sent.json) == "bf_structured_output"


# --- Gemini ---------------------------------------------------------------------------------------------------


async def test_gemini_native_sends_the_full_json_schema(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(GEMINI.path, GEMINI.text(GOOD, 10, 5))
    gw = await make_gateway(GEMINI.config(fake_upstream.url))
    asked = await ask(gw, GEMINI.routed, "anthropic")
    assert asked.status == 200
    [sent] = GEMINI.sent(fake_upstream.requests)
    config = sent["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["additionalProperties"] is False
