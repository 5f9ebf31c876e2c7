"""Agent mode without streaming: when a model calls only tools the config lets the gateway run
(`tools_to_auto_execute`), the gateway runs them on the real MCP test servers, sends the results back to the same
model in its own wire format and answers the client with the model's last answer (text of every round, usage
summed); bounded by `max_agent_depth` and the provider's request timeout. Fake models of the three providers are
scripted round by round."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from anthropic import omit
from anthropic.types import ToolParam

from gateway.testing import (
    FAKE_SIGNATURE,
    FakeUpstream,
    Reply,
    ToolUse,
    anthropic_message,
    anthropic_usage,
    openai_completion,
    openai_usage,
)
from tests.conftest import MakeGateway
from tests.fakes.gemini import FAKE_THOUGHT_SIGNATURE, call_part, gemini_response, gemini_usage, generate_path
from tests.http.governance_helpers import VK_A, budget, settled, used, vk
from tests.http.governance_helpers import config as governance_config
from tests.mcp.agent_helpers import (
    ADD_QUESTION,
    ADD_QUESTION_CHAT,
    CLAUDE,
    GEMINI,
    GPT,
    agent_config,
    anthropic_results,
    anthropic_turns,
    docs,
    gemini_tail,
    local,
    openai_tail,
    tool_uses,
)
from tests.mcp.helpers import CHAT, MESSAGES, HttpServer, http_server, sent_tool_names

ADD = ToolUse("toolu_1", "local-add", {"a": 2, "b": 3})
WEATHER = "sunny in Oslo, 21 degrees celsius"  # the test server's get_weather(city="Oslo")


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_server() as running:
        yield running


async def test_an_anthropic_call_gets_the_models_answer_after_the_tool_ran(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    first = anthropic_message(
        "Let me add.",
        tool_uses=[ADD],
        usage=anthropic_usage(100, 10, cache_creation_input_tokens=20, cache_read_input_tokens=50),
    )
    second = anthropic_message("2 + 3 = 5.", usage=anthropic_usage(200, 20, cache_read_input_tokens=60))
    fake_upstream.script(MESSAGES, Reply.json(first), Reply.json(second))
    gateway = await make_gateway(agent_config(fake_upstream))
    message = await gateway.anthropic().messages.create(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION)
    assert [(block.type, getattr(block, "text", None)) for block in message.content] == [
        ("text", "Let me add."),
        ("text", "2 + 3 = 5."),
    ]
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    usage = message.usage
    summed = (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens)
    assert summed == (300, 30, 110, 20)
    first_sent, second_sent = fake_upstream.requests_to(MESSAGES)
    turns = anthropic_turns(second_sent)
    assert [role for role, _ in turns] == ["user", "assistant", "user"]
    assert turns[0] == anthropic_turns(first_sent)[0]
    assert [(b["type"], b.get("text")) for b in turns[1][1]] == [("text", "Let me add."), ("tool_use", None)]
    assert tool_uses(turns[1][1]) == [("toolu_1", "local-add", {"a": 2, "b": 3})]  # as the model sent it
    assert anthropic_results(second_sent) == [("toolu_1", False, "5")]
    assert second_sent.json["model"] == "claude-x"
    assert sent_tool_names(fake_upstream) == [
        "local-add",
        "local-echo",
        "local-fail",
        "local-get_weather",
        "local-slow",
    ]


async def test_an_openai_call_runs_two_tools_of_one_round_and_sums_usage(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    calls = [ToolUse("call_1", "local-add", {"a": 2, "b": 3}), ToolUse("call_2", "local-get_weather", {"city": "Oslo"})]
    first = openai_completion(None, tool_calls=calls, usage=openai_usage(30, 12, cached_tokens=10))
    second = openai_completion("5, and sunny.", usage=openai_usage(50, 8, cached_tokens=20))
    fake_upstream.script(CHAT, Reply.json(first), Reply.json(second))
    gateway = await make_gateway(agent_config(fake_upstream))
    completion = await gateway.openai().chat.completions.create(model=GPT, messages=ADD_QUESTION_CHAT)
    choice = completion.choices[0]
    assert (choice.message.content, choice.finish_reason) == ("5, and sunny.", "stop")
    assert not choice.message.tool_calls
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (80, 20, 100)
    assert usage.prompt_tokens_details.cached_tokens == 30
    assistant, *results = openai_tail(fake_upstream.requests_to(CHAT)[1], 3)
    assert assistant["role"] == "assistant" and not assistant.get("content")
    sent_calls = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in assistant["tool_calls"]]
    assert sent_calls == [("call_1", "local-add", {"a": 2, "b": 3}), ("call_2", "local-get_weather", {"city": "Oslo"})]
    assert results == [
        {"role": "tool", "tool_call_id": "call_1", "content": "5"},
        {"role": "tool", "tool_call_id": "call_2", "content": WEATHER},
    ]


async def test_a_gemini_model_gets_its_call_back_with_its_signature_and_the_function_response(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    call = call_part("local-get_weather", {"city": "Oslo"}, signature=FAKE_THOUGHT_SIGNATURE)
    first = gemini_response("Checking.", parts=[call], usage=gemini_usage(100, 10))
    second = gemini_response("Sunny in Oslo.", usage=gemini_usage(120, 15))
    fake_upstream.script(generate_path(), Reply.json(first), Reply.json(second))
    gateway = await make_gateway(agent_config(fake_upstream))
    message = await gateway.anthropic().messages.create(
        model=GEMINI, max_tokens=64, messages=[{"role": "user", "content": "Weather in Oslo?"}]
    )
    # Google's signature rides in a thinking block of its own (how the gateway hands it to any client).
    assert {block.type for block in message.content} == {"text", "thinking"}
    assert [block.text for block in message.content if block.type == "text"] == ["Checking.", "Sunny in Oslo."]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (220, 25)
    requests = fake_upstream.requests_to(generate_path())
    assert len(requests) == 2
    response = {"name": "local-get_weather", "response": {"output": WEATHER}}
    assert gemini_tail(requests[1], 2) == [
        {"role": "model", "parts": [{"text": "Checking."}, call]},  # as the model sent it, signature included
        {"role": "user", "parts": [{"functionResponse": response}]},
    ]


async def test_several_rounds_over_two_servers_for_an_openai_client_of_an_anthropic_model(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, server: HttpServer
) -> None:
    fake_upstream.script(
        MESSAGES,
        Reply.json(anthropic_message(None, tool_uses=[ADD], usage=anthropic_usage(10, 1))),
        Reply.json(anthropic_message(None, tool_uses=[ToolUse("toolu_2", "docs-echo", {"text": "hello"})])),
        Reply.json(anthropic_message("Done.", usage=anthropic_usage(30, 3))),
    )
    gateway = await make_gateway(agent_config(fake_upstream, local(), docs(server.url)))
    completion = await gateway.openai().chat.completions.create(model=CLAUDE, messages=ADD_QUESTION_CHAT)
    choice = completion.choices[0]
    assert (choice.message.content, choice.finish_reason, choice.message.tool_calls) == ("Done.", "stop", None)
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (25 + 10 + 30, 40 + 1 + 3)
    requests = fake_upstream.requests_to(MESSAGES)
    assert len(requests) == 3
    turns = anthropic_turns(requests[2])
    assert [role for role, _ in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert tool_uses(turns[1][1]) == [("toolu_1", "local-add", {"a": 2, "b": 3})]
    assert tool_uses(turns[3][1]) == [("toolu_2", "docs-echo", {"text": "hello"})]
    assert anthropic_results(requests[1]) == [("toolu_1", False, "5")]
    assert anthropic_results(requests[2]) == [("toolu_2", False, "hello")]


async def test_the_depth_limit_returns_the_last_answers_tool_call_to_the_client(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gateway = await make_gateway(agent_config(fake_upstream, depth=2))
    rounds = [
        anthropic_message(f"Round {n}.", tool_uses=[ToolUse(f"toolu_{n}", "local-add", {"a": n, "b": n})])
        for n in (1, 2, 3)
    ]
    fake_upstream.script(MESSAGES, *[Reply.json(body) for body in rounds])
    fake_upstream.default(MESSAGES, Reply.json(anthropic_message("A fourth call: one too many.")))
    message = await gateway.anthropic().messages.create(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION)
    requests = fake_upstream.requests_to(MESSAGES)
    assert len(requests) == 3  # two tool rounds, then the model's third answer goes to the client as it is
    assert [getattr(block, "text", None) for block in message.content if block.type == "text"] == [
        "Round 1.",
        "Round 2.",
        "Round 3.",
    ]
    calls = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [("toolu_3", "local-add", {"a": 3, "b": 3})]
    assert message.content[-1].type == "tool_use"
    assert message.stop_reason == "tool_use"
    assert anthropic_results(requests[2]) == [("toolu_2", False, "4")]
    assert len(anthropic_turns(requests[2])) == 5


async def test_a_tool_not_to_be_run_by_the_gateway_ends_the_call_as_usual(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """Not auto-executable: a tool left out of tools_to_auto_execute; one filtered out of this call by a header,
    or not offered because the client sent a tool of the same name (both though auto-executable); one of no
    configured client."""
    gateway = await make_gateway(agent_config(fake_upstream))
    mine: ToolParam = {"name": "local-add", "description": "Mine.", "input_schema": {"type": "object"}}
    cases: list[tuple[dict[str, str], list[ToolParam], ToolUse]] = [
        ({}, [], ToolUse("toolu_e", "local-echo", {"text": "hi"})),
        ({"x-bf-mcp-include-tools": "local-echo"}, [], ADD),
        ({}, [mine], ADD),
        ({}, [], ToolUse("toolu_n", "nobody-add", {"a": 1, "b": 1})),
    ]
    for number, (headers, tools, call) in enumerate(cases, 1):
        fake_upstream.script(MESSAGES, Reply.json(anthropic_message("Over to you.", tool_uses=[call])))
        message = await gateway.anthropic().messages.create(
            model=CLAUDE, max_tokens=64, messages=ADD_QUESTION, tools=tools or omit, extra_headers=headers
        )
        assert len(fake_upstream.requests_to(MESSAGES)) == number, (headers, call)  # no second round
        assert [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"] == [
            (call.id, call.name, dict(call.input))
        ]
        assert message.stop_reason == "tool_use"


async def test_with_auto_inject_disabled_a_request_that_did_not_ask_for_tools_runs_none(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gateway = await make_gateway(agent_config(fake_upstream, mcp_disable_auto_tool_inject=True))
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message(None, tool_uses=[ADD])))
    message = await gateway.anthropic().messages.create(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION)
    assert [(b.type, getattr(b, "name", None)) for b in message.content] == [("tool_use", "local-add")]
    fake_upstream.script(
        MESSAGES, Reply.json(anthropic_message(None, tool_uses=[ADD])), Reply.json(anthropic_message("5."))
    )
    message = await gateway.anthropic().messages.create(
        model=CLAUDE, max_tokens=64, messages=ADD_QUESTION, extra_headers={"x-bf-mcp-include-clients": "local"}
    )
    assert [getattr(block, "text", None) for block in message.content] == ["5."]  # asked for: offered and run
    assert len(fake_upstream.requests_to(MESSAGES)) == 3


async def test_thinking_of_every_round_reaches_the_client_and_goes_back_to_the_model(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(
        MESSAGES,
        Reply.json(anthropic_message(None, thinking="I should add.", tool_uses=[ADD])),
        Reply.json(anthropic_message("5.", thinking="It is 5.")),
    )
    gateway = await make_gateway(agent_config(fake_upstream))
    message = await gateway.anthropic().messages.create(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION)
    shown = [(b.type, b.thinking if b.type == "thinking" else getattr(b, "text", None)) for b in message.content]
    assert shown == [("thinking", "I should add."), ("thinking", "It is 5."), ("text", "5.")]
    _, assistant = anthropic_turns(fake_upstream.requests_to(MESSAGES)[1])[1]
    assert assistant[0] == {"type": "thinking", "thinking": "I should add.", "signature": FAKE_SIGNATURE}
    assert tool_uses(assistant) == [("toolu_1", "local-add", {"a": 2, "b": 3})]


async def test_a_failing_tool_and_one_over_its_timeout_are_error_results_and_the_loop_goes_on(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """The client's own tool_execution_timeout (1 s) wins over tool_manager_config's (60 s)."""
    fail = ToolUse("toolu_f", "local-fail", {"message": "disk full"})
    slow = ToolUse("toolu_s", "local-slow", {"seconds": 30})
    fake_upstream.script(
        MESSAGES,
        Reply.json(anthropic_message(None, tool_uses=[fail, slow])),
        Reply.json(anthropic_message("Both failed; sorry.")),
    )
    gateway = await make_gateway(agent_config(fake_upstream, local(tool_execution_timeout=1), tool_timeout=60))
    started = time.monotonic()
    message = await gateway.anthropic().messages.create(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION)
    assert time.monotonic() - started < 10
    assert [getattr(block, "text", None) for block in message.content] == ["Both failed; sorry."]
    results = anthropic_results(fake_upstream.requests_to(MESSAGES)[1])
    assert [(tool_id, is_error) for tool_id, is_error, _ in results] == [("toolu_f", True), ("toolu_s", True)]
    # The bare reason: in Anthropic's wire is_error marks it (OpenAI's tool message gets an "Error: " prefix).
    assert "disk full" in results[0][2]
    assert "within 1s" in results[1][2]


async def test_an_openai_model_is_told_of_a_failed_tool_in_its_tool_message(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fail = ToolUse("call_f", "local-fail", {"message": "no such city"})
    fake_upstream.script(
        CHAT, Reply.json(openai_completion(None, tool_calls=[fail])), Reply.json(openai_completion("It failed."))
    )
    gateway = await make_gateway(agent_config(fake_upstream))
    completion = await gateway.openai().chat.completions.create(model=GPT, messages=ADD_QUESTION_CHAT)
    assert completion.choices[0].message.content == "It failed."
    [result] = openai_tail(fake_upstream.requests_to(CHAT)[1], 1)
    assert (result["role"], result["tool_call_id"]) == ("tool", "call_f")
    assert result["content"].startswith("Error: ") and "no such city" in result["content"]


async def test_the_tools_of_one_round_run_in_parallel(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    slow = [ToolUse(f"toolu_{n}", "local-slow", {"seconds": 2}) for n in (1, 2)]
    fake_upstream.script(
        MESSAGES, Reply.json(anthropic_message(None, tool_uses=slow)), Reply.json(anthropic_message("Done."))
    )
    gateway = await make_gateway(agent_config(fake_upstream))
    started = time.monotonic()
    await gateway.anthropic().messages.create(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION)
    assert time.monotonic() - started < 3.6  # one after the other would take 4 s
    assert anthropic_results(fake_upstream.requests_to(MESSAGES)[1]) == [
        ("toolu_1", False, "done"),
        ("toolu_2", False, "done"),
    ]


def slow_forever(fake: FakeUpstream, timeout_s: float) -> dict[str, Any]:
    """A model that always calls a 2 s tool, behind a provider whose request timeout is `timeout_s`."""
    config = agent_config(fake, depth=10)
    config["providers"]["anthropic"]["network_config"]["default_request_timeout_in_seconds"] = timeout_s
    fake.default(
        MESSAGES, Reply.json(anthropic_message(None, tool_uses=[ToolUse("toolu_s", "local-slow", {"seconds": 2})]))
    )
    return config


async def test_no_model_call_starts_after_the_providers_request_timeout(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    """The request timeout (3 s) has passed when the second round's tool (2 s) is done: no third model call; the
    answer is paused (`pause_turn`), with the results of the calls that ran summed up for the client."""
    gateway = await make_gateway(slow_forever(fake_upstream, 3))
    started = time.monotonic()
    message = await gateway.anthropic().messages.create(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION)
    assert time.monotonic() - started < 6  # not 10 rounds of 2 s
    assert len(fake_upstream.requests_to(MESSAGES)) == 2
    assert message.stop_reason == "pause_turn"
    assert [block.type for block in message.content] == ["text"]
    text = message.content[0].text  # type: ignore[union-attr]
    executed = json.loads(text)["executed_tools"]
    assert [(call["name"], call["arguments"], call["is_error"]) for call in executed] == [
        ("local-slow", {"seconds": 2}, False)
    ]


async def test_every_rounds_usage_is_billed_to_the_virtual_key(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    config = governance_config(fake_upstream.url, vk("vk-a", VK_A, budgets=[budget(100.0)]))
    config["mcp"] = agent_config(fake_upstream)["mcp"]
    gateway = await make_gateway(config)
    fake_upstream.script(
        MESSAGES,
        Reply.json(anthropic_message(None, tool_uses=[ADD], usage=anthropic_usage(1000, 100))),
        Reply.json(anthropic_message("5.", usage=anthropic_usage(2000, 200))),
    )
    message = await gateway.anthropic(api_key=VK_A).messages.create(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (3000, 300)
    await settled(gateway)
    assert used(gateway, "budget:vk:vk-a:0") == pytest.approx(3000 * 1e-6 + 300 * 2e-6)


async def test_two_loops_at_once_keep_to_their_own_calls(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    slow = {"seconds": 1}
    fake_upstream.script(
        MESSAGES,
        Reply.json(anthropic_message(None, tool_uses=[ToolUse("toolu_a", "local-slow", slow)])),
        Reply.json(anthropic_message("From Claude.")),
    )
    fake_upstream.script(
        CHAT,
        Reply.json(openai_completion(None, tool_calls=[ToolUse("call_b", "local-add", {"a": 1, "b": 2})])),
        Reply.json(openai_completion("From GPT.")),
    )
    gateway = await make_gateway(agent_config(fake_upstream))
    claude, gpt = await asyncio.gather(
        gateway.anthropic().messages.create(model=CLAUDE, max_tokens=64, messages=ADD_QUESTION),
        gateway.openai().chat.completions.create(model=GPT, messages=ADD_QUESTION_CHAT),
    )
    assert [getattr(block, "text", None) for block in claude.content] == ["From Claude."]
    assert gpt.choices[0].message.content == "From GPT."
    assert anthropic_results(fake_upstream.requests_to(MESSAGES)[1]) == [("toolu_a", False, "done")]
    assert openai_tail(fake_upstream.requests_to(CHAT)[1], 1)[0]["content"] == "3"
