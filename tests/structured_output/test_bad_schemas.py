"""Bad structured-output requests, end to end: each is a 400 in the client's dialect that names where in the request
the problem is, answered before any upstream call (relayed bodies too), in bounded time, whatever the target's
mode. A remote `$ref` is never fetched."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gateway.testing import (
    Answer,
    FakeUpstream,
    MakeGateway,
    Reply,
    assert_anthropic_error,
    assert_openai_error,
    openai_error_of,
)
from tests.fakes.structured import ANTHROPIC, OPENAI, SCHEMA, VLLM, Wire
from tests.structured_output.matrix import DIALECTS, HI, Dialect

BOUND = 10.0
ANTHROPIC_PATH = "/anthropic/v1/messages"
OPENAI_PATH = "/v1/chat/completions"
# native relay (anthropic), native with the client's body relayed (openai), tool mode (custom), the mock
TARGETS: list[tuple[Wire | None, str | None]] = [(ANTHROPIC, None), (OPENAI, "native"), (VLLM, None), (None, None)]
ON = pytest.mark.parametrize(("wire", "mode"), TARGETS, ids=[w.name if w else "mock" for w, _ in TARGETS])
BOTH = pytest.mark.parametrize("dialect", DIALECTS)


class Nested:
    """A schema `levels` objects deep, as JSON text (too deep for the test's own JSON encoder)."""

    def __init__(self, levels: int) -> None:
        self.text = '{"type":"object","properties":{"a":' * levels + '{"type":"string"}' + "}}" * levels


def cycle() -> dict[str, Any]:
    return {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}


async def gateway_for(make_gateway: MakeGateway, fake: FakeUpstream, wire: Wire | None, mode: str | None) -> Any:
    if wire is None:
        return await make_gateway({"providers": {"mock": {}}}), "mock/mock-model"
    return await make_gateway(wire.config(fake.url, {"mode": mode} if mode else None)), wire.routed


async def post_schema(gw: Any, model: str, dialect: Dialect, schema: object) -> Answer:
    placeholder = "SCHEMA-PLACEHOLDER" if isinstance(schema, Nested) else schema
    if dialect == "anthropic":
        fmt = {"format": {"type": "json_schema", "schema": placeholder}}
        body: dict[str, Any] = {"model": model, "max_tokens": 50, "messages": HI, "output_config": fmt}
        path = ANTHROPIC_PATH
    else:
        rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": placeholder}}
        body, path = {"model": model, "messages": HI, "response_format": rf}, OPENAI_PATH
    data = json.dumps(body)
    if isinstance(schema, Nested):
        data = data.replace('"SCHEMA-PLACEHOLDER"', schema.text)
    async with gw.http() as http:
        return await asyncio.wait_for(http.post(path, data.encode()), BOUND)


def refused(answer: Answer, dialect: Dialect, *words: str) -> str:
    """The 400 in the dialect; returns where it says the problem is (OpenAI's param, or the message)."""
    if dialect == "anthropic":
        return assert_anthropic_error(answer, 400, "invalid_request_error", *words)
    assert_openai_error(answer, 400, "invalid_request_error", *words)
    return str(openai_error_of(answer)["param"])


def field(dialect: Dialect) -> str:
    return "output_config.format.schema" if dialect == "anthropic" else "response_format.json_schema.schema"


BAD: list[tuple[str, object, str]] = [
    ("minimum-not-a-number", {"properties": {"a": {"minimum": "x"}}}, "properties.a.minimum"),
    ("unknown-type", {"type": "object", "properties": {"a": {"type": "strin"}}}, "properties.a.type"),
    ("required-not-a-list", {"type": "object", "required": "a"}, "required"),
    ("bad-pattern", {"type": "string", "pattern": "("}, "pattern"),
    ("ref-cycle", cycle(), "$defs.a.$ref"),
    ("ref-to-nothing", {"$ref": "#/$defs/missing"}, "$ref"),
    ("not-an-object", 5, ""),
]


@ON
@BOTH
@pytest.mark.parametrize(("case", "schema", "path"), BAD, ids=[c for c, _, _ in BAD])
async def test_a_bad_schema_is_a_400_naming_its_path_before_any_call(
    make_gateway: MakeGateway,
    fake_upstream: FakeUpstream,
    wire: Wire | None,
    mode: str | None,
    dialect: Dialect,
    case: str,
    schema: object,
    path: str,
) -> None:
    gw, model = await gateway_for(make_gateway, fake_upstream, wire, mode)
    answer = await post_schema(gw, model, dialect, schema)
    where = f"{field(dialect)}.{path}" if path else field(dialect)
    said = refused(answer, dialect, where)
    if dialect == "openai":
        assert said == where
    assert fake_upstream.requests == []


@ON
async def test_json_schema_without_a_schema_is_a_400(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire | None, mode: str | None
) -> None:
    gw, model = await gateway_for(make_gateway, fake_upstream, wire, mode)
    async with gw.http() as http:
        for rf in ({"type": "json_schema", "json_schema": {"name": "x"}}, {"type": "json_schema"}):
            answer = await asyncio.wait_for(
                http.post(OPENAI_PATH, {"model": model, "messages": HI, "response_format": rf}), BOUND
            )
            assert refused(answer, "openai").startswith("response_format"), answer
        fmt = {"format": {"type": "json_schema"}}
        body = {"model": model, "max_tokens": 50, "messages": HI, "output_config": fmt}
        answer = await asyncio.wait_for(http.post(ANTHROPIC_PATH, body), BOUND)
        assert "output_config.format" in refused(answer, "anthropic")
    assert fake_upstream.requests == []


@BOTH
async def test_a_remote_ref_is_refused_and_never_fetched(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: Dialect
) -> None:
    fake_upstream.default("/schema.json", Reply.json(SCHEMA))  # a fetch would find a good schema here
    gw, model = await gateway_for(make_gateway, fake_upstream, ANTHROPIC, None)
    schema = {"type": "object", "properties": {"city": {"$ref": f"{fake_upstream.url}/schema.json"}}}
    answer = await post_schema(gw, model, dialect, schema)
    refused(answer, dialect, f"{field(dialect)}.properties.city.$ref", "only references within the schema")
    await asyncio.sleep(0.1)  # a fetch started in the background would have arrived by now
    assert fake_upstream.requests == []


@BOTH
@pytest.mark.parametrize("levels", [100, 10_000])
async def test_deep_nesting_is_a_400_in_bounded_time(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: Dialect, levels: int
) -> None:
    gw, model = await gateway_for(make_gateway, fake_upstream, ANTHROPIC, None)
    loop = asyncio.get_running_loop()
    start = loop.time()
    answer = await post_schema(gw, model, dialect, Nested(levels))
    assert loop.time() - start < 5.0
    refused(answer, dialect, "nested")
    assert fake_upstream.requests == []


@BOTH
async def test_ten_thousand_levels_name_the_schema(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: Dialect
) -> None:
    gw, model = await gateway_for(make_gateway, fake_upstream, ANTHROPIC, None)
    answer = await post_schema(gw, model, dialect, Nested(10_000))
    refused(answer, dialect, field(dialect))
