"""The mode headers: `x-bf-structured-output` says how each provider kind was asked by default (and by a per-model
entry), `x-bf-structured-output-attempts` how many answers it took; a fallback target is asked in its own mode and
the header says that one's. Calls without structured output carry neither header."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gateway.testing import FakeUpstream, MakeGateway, Reply
from tests.fakes.structured import (
    ANTHROPIC,
    BEDROCK,
    BEDROCK_LLAMA,
    GEMINI,
    GOOD,
    GROQ,
    OPENAI,
    VLLM,
    Wire,
)
from tests.structured_output.matrix import DIALECTS, HI, City, Dialect, Headers, ask

MODE = "x-bf-structured-output"
ATTEMPTS = "x-bf-structured-output-attempts"
CLAUDE_3 = replace(ANTHROPIC, name="claude-3", model="claude-3-haiku-20240307")
DEFAULTS: list[tuple[Wire, str]] = [
    (ANTHROPIC, "native"),
    (CLAUDE_3, "tool"),  # Claude 3 has no output_config.format
    (OPENAI, "tool"),  # the fake's base URL is not api.openai.com
    (VLLM, "tool"),
    (GROQ, "tool"),
    (GEMINI, "native"),
    (BEDROCK, "native"),
    (BEDROCK_LLAMA, "tool"),
]


@pytest.mark.parametrize(("wire", "mode"), DEFAULTS, ids=[w.name for w, _ in DEFAULTS])
@pytest.mark.parametrize("dialect", DIALECTS)
async def test_each_kind_has_its_default_mode(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, wire: Wire, mode: str, dialect: Dialect
) -> None:
    fake_upstream.script(wire.path, wire.tool(GOOD, 10, 5) if mode == "tool" else wire.text(GOOD, 10, 5))
    gw = await make_gateway(wire.config(fake_upstream.url))
    asked = await ask(gw, wire.routed, dialect)
    assert asked.status == 200, asked
    assert (asked.headers[MODE], asked.headers[ATTEMPTS]) == (mode, "1")


async def test_a_models_entry_overrides_the_providers_mode(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    structured = {"mode": "tool", "models": {"claude-small": {"mode": "prompt"}}}
    fake_upstream.script(ANTHROPIC.path, ANTHROPIC.tool(GOOD, 10, 5), ANTHROPIC.text(GOOD, 10, 5))
    gw = await make_gateway(ANTHROPIC.config(fake_upstream.url, structured))
    first = await ask(gw, "anthropic/claude-x", "anthropic")
    second = await ask(gw, "anthropic/claude-small", "openai")
    assert (first.headers[MODE], second.headers[MODE]) == ("tool", "prompt")
    tool_sent, prompt_sent = ANTHROPIC.sent(fake_upstream.requests)
    assert ANTHROPIC.forced_tool(tool_sent) == "bf_structured_output"
    assert ANTHROPIC.forced_tool(prompt_sent) is None and "population" in ANTHROPIC.system(prompt_sent)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_fallback_is_asked_in_its_own_mode(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, dialect: Dialect
) -> None:
    """Native Anthropic fails; the fallback (a custom server: tool mode) is asked afresh, with the tool."""
    fake_upstream.default(ANTHROPIC.path, Reply.error(500, "api_error", "down", dialect="anthropic"))
    fake_upstream.script(VLLM.path, VLLM.tool(GOOD, 10, 5))
    config = ANTHROPIC.config(fake_upstream.url)
    config["providers"].update(VLLM.config(fake_upstream.url)["providers"])
    gw = await make_gateway(config)
    seen = Headers()
    if dialect == "anthropic":
        async with gw.anthropic(http_client=seen.client()) as client:
            message = await client.messages.parse(
                model=ANTHROPIC.routed,
                max_tokens=100,
                messages=HI,
                output_format=City,
                extra_body={"fallbacks": [VLLM.routed]},
            )
        assert message.parsed_output == City.model_validate_json(GOOD)
    else:
        async with gw.openai(http_client=seen.client()) as openai_client:
            completion = await openai_client.chat.completions.parse(
                model=ANTHROPIC.routed, messages=HI, response_format=City, extra_body={"fallbacks": [VLLM.routed]}
            )
        assert completion.choices[0].message.parsed == City.model_validate_json(GOOD)
    assert seen.last["x-bf-fallback-index"] == "1"
    assert (seen.last[MODE], seen.last[ATTEMPTS]) == ("tool", "1")
    primary = fake_upstream.requests_to(ANTHROPIC.path)[0].json
    assert ANTHROPIC.native_schema(primary) is not None  # the primary was asked natively
    [fallback] = fake_upstream.requests_to(VLLM.path)
    assert VLLM.forced_tool(fallback.json) == "bf_structured_output"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_plain_call_carries_no_structured_output_header(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, stream: bool
) -> None:
    reply = ANTHROPIC.stream_text(("Hel", "lo")) if stream else ANTHROPIC.text("Hello", 10, 5)
    fake_upstream.script(ANTHROPIC.path, reply)
    gw = await make_gateway(ANTHROPIC.config(fake_upstream.url))
    body: dict[str, Any] = {"model": ANTHROPIC.routed, "max_tokens": 50, "messages": HI, "stream": stream}
    async with gw.http() as http:
        answer = await http.post("/anthropic/v1/messages", body)
    assert answer.status == 200, answer
    assert MODE not in answer.headers and ATTEMPTS not in answer.headers
