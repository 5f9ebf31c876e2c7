"""The structured output a client asks for lands in `ChatCall.output`, whatever the dialect and field; a format
that cannot be served is a 400 in the client's dialect before any upstream call (a relayed body included)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from gateway import CallContext, ChatCall, hookimpl
from gateway.api import StructuredOutput
from gateway.testing import (
    FakeUpstream,
    Reply,
    anthropic_body,
    anthropic_message,
    assert_anthropic_error,
    assert_openai_error,
    openai_body,
    openai_completion,
    openai_error_of,
)
from tests.conftest import Gateway, MakeGateway, upstream_config

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
ANSWER = '{"city": "Paris"}'
MESSAGES = "/anthropic/v1/messages"
CHAT = "/v1/chat/completions"


class City(BaseModel):
    city: str


class Spy:
    """Keeps the `output` of every call that reaches gw_transform_request."""

    def __init__(self) -> None:
        self.seen: list[StructuredOutput | None] = []

    @hookimpl
    def gw_transform_request(self, call: ChatCall, ctx: CallContext) -> ChatCall:
        self.seen.append(call.output)
        return call


async def spied(make_gateway: MakeGateway, fake: FakeUpstream) -> tuple[Gateway, Spy]:
    spy = Spy()
    return await make_gateway(upstream_config(fake.url), [spy]), spy


def schema_of(output: StructuredOutput | None) -> Any:
    assert output is not None and output.schema is not None, output
    return json.loads(bytes(output.schema))


async def test_anthropic_sdk_parse_lands_in_output(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script("/v1/messages", Reply.json(anthropic_message(ANSWER)))
    gw, spy = await spied(make_gateway, fake_upstream)
    async with gw.anthropic() as client:
        parsed = await client.messages.parse(
            model="anthropic/claude-x",
            max_tokens=64,
            messages=[{"role": "user", "content": "where?"}],
            output_format=City,
        )
    assert parsed.parsed_output == City(city="Paris")
    [output] = spy.seen
    assert output is not None
    assert (output.kind, output.param, output.name, output.strict) == (
        "json_schema",
        "output_config.format",
        None,
        None,
    )
    sent = fake_upstream.requests_to("/v1/messages")[0].json
    assert schema_of(output) == sent["output_config"]["format"]["schema"]  # the client's bytes, as relayed
    assert schema_of(output)["required"] == ["city"]


async def test_beta_output_format_and_output_config_precedence(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message(ANSWER)))
    gw, spy = await spied(make_gateway, fake_upstream)
    beta = {"type": "json_schema", "schema": {"type": "object"}}
    config = {"effort": "low", "format": {"type": "json_schema", "schema": SCHEMA}}
    async with gw.http() as http:
        assert (await http.post(MESSAGES, anthropic_body(output_format=beta))).status == 200
        assert (await http.post(MESSAGES, anthropic_body(output_format=beta, output_config=config))).status == 200
        assert (await http.post(MESSAGES, anthropic_body(output_config={"effort": "low"}))).status == 200
    first, second, third = spy.seen
    assert first is not None and first.param == "output_format" and schema_of(first) == {"type": "object"}
    assert second is not None and second.param == "output_config.format" and schema_of(second) == SCHEMA
    assert third is None  # an effort alone asks for no structured output


async def test_openai_sdk_parse_lands_in_output(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion(ANSWER)))
    gw, spy = await spied(make_gateway, fake_upstream)
    async with gw.openai() as client:
        completion = await client.chat.completions.parse(
            model="openai/gpt-x", messages=[{"role": "user", "content": "where?"}], response_format=City
        )
    assert completion.choices[0].message.parsed == City(city="Paris")
    [output] = spy.seen
    assert output is not None
    assert (output.kind, output.param, output.name, output.strict) == (
        "json_schema",
        "response_format.json_schema",
        "City",
        True,
    )
    assert schema_of(output)["properties"] == {"city": {"title": "City", "type": "string"}}


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, StructuredOutput(kind="json_object", param="response_format")),
        ({"type": "text"}, None),
        (None, None),
    ],
)
async def test_openai_json_object_and_text(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, response_format: Any, expected: StructuredOutput | None
) -> None:
    fake_upstream.script(CHAT, Reply.json(openai_completion("{}")))
    gw, spy = await spied(make_gateway, fake_upstream)
    extra = {} if response_format is None else {"response_format": response_format}
    async with gw.openai() as client:
        await client.chat.completions.create(
            model="openai/gpt-x", messages=[{"role": "user", "content": "hi"}], **extra
        )
    assert spy.seen == [expected]


async def test_openai_json_schema_strict_false_and_unset(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default(CHAT, Reply.json(openai_completion(ANSWER)))
    gw, spy = await spied(make_gateway, fake_upstream)
    async with gw.http() as http:
        for strict in (False, None, "unset"):
            spec: dict[str, Any] = {"name": "place", "schema": SCHEMA}
            if strict != "unset":
                spec["strict"] = strict
            body = openai_body(response_format={"type": "json_schema", "json_schema": spec})
            assert (await http.post(CHAT, body)).status == 200
    assert [o.strict if o else "none" for o in spy.seen] == [False, None, None]
    assert all(o is not None and o.name == "place" and schema_of(o) == SCHEMA for o in spy.seen)


# --- formats that cannot be served: 400 before any upstream call --------------------------------------------

OPENAI_BAD = [
    ({"type": "json_schema"}, "response_format.json_schema.schema"),
    ({"type": "json_schema", "json_schema": {"name": "x"}}, "response_format.json_schema.schema"),
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": None}}, "response_format.json_schema.schema"),
    ({"type": "xml"}, "response_format.type"),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("response_format", "param"), OPENAI_BAD)
async def test_openai_bad_response_format_is_a_400_even_on_a_relay(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, response_format: Any, param: str, stream: bool
) -> None:
    """An OpenAI client in front of an OpenAI upstream (a relayed body): the gateway answers, not the upstream."""
    gw = await make_gateway(upstream_config(fake_upstream.url))
    async with gw.http() as http:
        for model in ("openai/gpt-x", "anthropic/claude-x", "mock/m"):
            body = openai_body(model, response_format=response_format, stream=stream)
            answer = await http.post(CHAT, body)
            assert_openai_error(answer, 400, "invalid_request_error", param)
            assert openai_error_of(answer)["param"] == param
    assert fake_upstream.requests == []


ANTHROPIC_BAD = [
    ({"output_config": {"format": {"type": "json_object"}}}, "output_config.format.type"),
    ({"output_config": {"format": {"type": "json_schema"}}}, "output_config.format.schema"),
    ({"output_config": {"format": {"type": "json_schema", "schema": None}}}, "output_config.format.schema"),
    ({"output_format": {"type": "json_schema"}}, "output_format.schema"),
    ({"output_format": {"type": "text"}}, "output_format.type"),
]


@pytest.mark.parametrize(("extra", "param"), ANTHROPIC_BAD)
async def test_anthropic_bad_format_is_a_400_before_the_upstream(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, extra: dict[str, Any], param: str
) -> None:
    gw = await make_gateway(upstream_config(fake_upstream.url))
    async with gw.http() as http:
        for model in ("anthropic/claude-x", "openai/gpt-x"):
            for stream in (False, True):
                answer = await http.post(MESSAGES, anthropic_body(model, stream=stream, **extra))
                assert_anthropic_error(answer, 400, "invalid_request_error", param)
    assert fake_upstream.requests == []


def test_structured_output_is_a_frozen_struct() -> None:
    output = StructuredOutput(kind="json_schema", schema=msgspec.Raw(b'{"type":"object"}'))
    assert output.param == "output_config.format"
    with pytest.raises(AttributeError):
        output.kind = "json_object"  # type: ignore[misc]
