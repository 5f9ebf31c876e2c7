"""Agent mode, what the client is shown of the tools the gateway ran (without streaming): nothing, unless the
model also called tools the client must run (mixed): then Bifrost's `{"executed_tools": [...]}` summary text
before the pending calls. With Anthropic's MCP beta header every executed call is an `mcp_tool_use` block and
an `mcp_tool_result` block, parsed by the `anthropic` SDK's beta types with strict validation."""

from __future__ import annotations

import json

import pytest
from anthropic.types.beta import (
    BetaMCPToolResultBlock,
    BetaMCPToolUseBlock,
    BetaMessageParam,
    BetaTextBlock,
    BetaToolParam,
    BetaToolUseBlock,
)

from gateway.testing import FakeUpstream, Reply, ToolUse, anthropic_message, openai_completion
from tests.conftest import Gateway, MakeGateway
from tests.mcp.agent_helpers import (
    ADD_QUESTION,
    ADD_QUESTION_CHAT,
    CLAUDE,
    EXECUTED_ADD,
    GPT,
    LOOKUP,
    LOOKUP_FUNCTION,
    MCP_BETA,
    MCP_BETA_NEW,
    agent_config,
    anthropic_results,
    beta_kinds,
    summary_of,
)
from tests.mcp.helpers import CHAT, MESSAGES

ADD = ToolUse("toolu_1", "local-add", {"a": 2, "b": 3})
ECHO = ToolUse("toolu_2", "local-echo", {"text": "hi"})  # offered, not auto-executable: pending
OWN = ToolUse("toolu_3", "lookup", {"q": "x"})  # the client's own: pending
BETA_LOOKUP: BetaToolParam = {"name": "lookup", "description": "The client's own.", "input_schema": {"type": "object"}}
BETA_QUESTION: list[BetaMessageParam] = [{"role": "user", "content": "What is 2 + 3?"}]


@pytest.fixture
async def gateway(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> Gateway:
    return await make_gateway(agent_config(fake_upstream))


async def test_a_mixed_answer_gives_the_pending_calls_after_a_summary_of_the_executed_ones(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("Let me see.", tool_uses=[ADD, ECHO, OWN])))
    message = await gateway.anthropic().messages.create(
        model=CLAUDE, max_tokens=64, messages=ADD_QUESTION, tools=[LOOKUP]
    )
    assert len(fake_upstream.requests_to(MESSAGES)) == 1  # pending calls end the loop
    assert [block.type for block in message.content] == ["text", "text", "tool_use", "tool_use"]
    first, summary = message.content[0], message.content[1]
    assert first.type == "text" and first.text == "Let me see."
    assert summary.type == "text" and summary_of(summary.text) == [EXECUTED_ADD]
    pending = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert pending == [("toolu_2", "local-echo", {"text": "hi"}), ("toolu_3", "lookup", {"q": "x"})]
    assert message.stop_reason == "tool_use"


async def test_a_mixed_answer_in_the_openai_dialect(gateway: Gateway, fake_upstream: FakeUpstream) -> None:
    calls = [ToolUse("call_1", "local-add", {"a": 2, "b": 3}), ToolUse("call_3", "lookup", {"q": "x"})]
    fake_upstream.script(CHAT, Reply.json(openai_completion(None, tool_calls=calls)))
    completion = await gateway.openai().chat.completions.create(
        model=GPT, messages=ADD_QUESTION_CHAT, tools=[LOOKUP_FUNCTION]
    )
    assert len(fake_upstream.requests_to(CHAT)) == 1
    choice = completion.choices[0]
    assert choice.message.content is not None and summary_of(choice.message.content) == [EXECUTED_ADD]
    calls_out = [c for c in choice.message.tool_calls or [] if c.type == "function"]
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls_out] == [
        ("call_3", "lookup", {"q": "x"})
    ]
    assert choice.finish_reason == "tool_calls"


@pytest.mark.parametrize("beta", [MCP_BETA, MCP_BETA_NEW])
async def test_with_the_mcp_beta_the_executed_calls_are_mcp_blocks(
    gateway: Gateway, fake_upstream: FakeUpstream, beta: str
) -> None:
    fail = ToolUse("toolu_f", "local-fail", {"message": "disk full"})
    fake_upstream.script(
        MESSAGES,
        Reply.json(anthropic_message("Let me add.", tool_uses=[ADD, fail])),
        Reply.json(anthropic_message("5, and the disk is full.")),
    )
    message = await gateway.anthropic().beta.messages.create(
        model=CLAUDE, max_tokens=64, messages=BETA_QUESTION, betas=[beta]
    )
    types = beta_kinds(message.content)
    assert types == [
        BetaTextBlock,
        BetaMCPToolUseBlock,
        BetaMCPToolResultBlock,
        BetaMCPToolUseBlock,
        BetaMCPToolResultBlock,
        BetaTextBlock,
    ]
    add_use, add_result, fail_use, fail_result = message.content[1:5]
    assert isinstance(add_use, BetaMCPToolUseBlock) and isinstance(add_result, BetaMCPToolResultBlock)
    assert (add_use.name, add_use.server_name, add_use.input) == ("add", "local", {"a": 2, "b": 3})
    assert (add_result.tool_use_id, add_result.is_error) == (add_use.id, False)
    assert isinstance(add_result.content, list) and [part.text for part in add_result.content] == ["5"]
    assert isinstance(fail_use, BetaMCPToolUseBlock) and isinstance(fail_result, BetaMCPToolResultBlock)
    assert (fail_use.name, fail_use.server_name, fail_use.input) == ("fail", "local", {"message": "disk full"})
    assert (fail_result.tool_use_id, fail_result.is_error) == (fail_use.id, True)
    assert isinstance(fail_result.content, list) and "disk full" in fail_result.content[0].text
    assert add_use.id != fail_use.id
    last = message.content[-1]
    assert isinstance(last, BetaTextBlock) and last.text == "5, and the disk is full."
    assert message.stop_reason == "end_turn"
    # The model itself saw ordinary tool_use and tool_result blocks.
    results = anthropic_results(fake_upstream.requests_to(MESSAGES)[1])
    assert [(tool_id, is_error) for tool_id, is_error, _ in results] == [("toolu_1", False), ("toolu_f", True)]


async def test_with_the_mcp_beta_a_mixed_answer_shows_mcp_blocks_before_the_pending_calls(
    gateway: Gateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.script(MESSAGES, Reply.json(anthropic_message("Let me see.", tool_uses=[ADD, OWN])))
    message = await gateway.anthropic().beta.messages.create(
        model=CLAUDE,
        max_tokens=64,
        messages=BETA_QUESTION,
        tools=[BETA_LOOKUP],
        betas=[MCP_BETA],
    )
    assert len(fake_upstream.requests_to(MESSAGES)) == 1
    types = beta_kinds(message.content)
    assert types == [BetaTextBlock, BetaMCPToolUseBlock, BetaMCPToolResultBlock, BetaToolUseBlock]
    use, result, pending = message.content[1:]
    assert isinstance(use, BetaMCPToolUseBlock) and isinstance(result, BetaMCPToolResultBlock)
    assert (use.name, use.server_name, result.tool_use_id, result.is_error) == ("add", "local", use.id, False)
    assert isinstance(pending, BetaToolUseBlock)
    assert (pending.id, pending.name, pending.input) == ("toolu_3", "lookup", {"q": "x"})
    assert message.stop_reason == "tool_use"
