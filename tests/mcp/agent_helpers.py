"""Agent mode's test kit: a gateway whose MCP tools the gateway runs by itself (the stdio test server `local`, with
its slow and failing tools, and optionally the HTTP one `docs`), fake models of three providers scripted round by
round, and readers for what a model was sent on a later round, in its own wire format."""

from __future__ import annotations

import json
from typing import Any

from anthropic.types import MessageParam, ToolParam
from anthropic.types.beta import BetaMCPToolResultBlock, BetaMCPToolUseBlock, BetaTextBlock, BetaToolUseBlock
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam

from gateway.testing import FakeUpstream, Recorded
from tests.fakes.gemini import GEMINI_KEY
from tests.mcp.helpers import http_client, mcp_config, stdio_client

CLAUDE, GPT, GEMINI = "anthropic/claude-x", "openai/gpt-x", "gemini/gemini-x"
# The stdio server's tools the gateway runs by itself; its `echo` is offered to models but left to the client.
LOCAL_AUTO = ["add", "get_weather", "fail", "slow"]
MCP_BETA = "mcp-client-2025-04-04"
MCP_BETA_NEW = "mcp-client-2025-11-20"
ADD_QUESTION: list[MessageParam] = [{"role": "user", "content": "What is 2 + 3?"}]
ADD_QUESTION_CHAT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is 2 + 3?"}]
# How a mixed answer's summary shows local-add(2, 3) run by the gateway.
EXECUTED_ADD = {"name": "local-add", "arguments": {"a": 2, "b": 3}, "result": "5", "is_error": False}
# A tool of the client's own: never run by the gateway, always the client's to answer.
LOOKUP: ToolParam = {"name": "lookup", "description": "The client's own.", "input_schema": {"type": "object"}}
LOOKUP_FUNCTION: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {"name": "lookup", "description": "The client's own.", "parameters": {"type": "object"}},
}


def local(**fields: Any) -> dict[str, Any]:
    """The stdio server with its slow and failing tools; `LOCAL_AUTO` run by the gateway unless `fields` say."""
    client = stdio_client(**({"tools_to_auto_execute": LOCAL_AUTO} | fields))
    client["stdio_config"]["envs"]["MCP_TEST_MORE_TOOLS"] = "1"
    return client


def docs(url: str, **fields: Any) -> dict[str, Any]:
    """The streamable HTTP server (bearer token required), its `echo` run by the gateway."""
    return http_client(url, **({"tools_to_auto_execute": ["echo"]} | fields))


def agent_config(
    fake: FakeUpstream,
    *clients: dict[str, Any],
    depth: int | None = None,
    tool_timeout: float | None = None,
    **client_section: Any,
) -> dict[str, Any]:
    """Anthropic, OpenAI and Gemini providers all served by `fake`, and the given MCP clients (`local()` when
    none); `depth` and `tool_timeout` go to `mcp.tool_manager_config`."""
    config = mcp_config(fake, *(clients or (local(),)), **client_section)
    config["providers"]["gemini"] = {
        "keys": [{"name": "g", "value": GEMINI_KEY}],
        "network_config": {"base_url": fake.url},
    }
    manager: dict[str, Any] = {}
    if depth is not None:
        manager["max_agent_depth"] = depth
    if tool_timeout is not None:
        manager["tool_execution_timeout"] = tool_timeout
    if manager:
        config["mcp"]["tool_manager_config"] = manager
    return config


def block_text(content: Any) -> str:
    """A tool result's content as one text: Anthropic's string or list of text blocks, OpenAI's string."""
    if isinstance(content, str):
        return content
    return "".join(item["text"] for item in content if item.get("type") == "text")


def anthropic_turns(request: Recorded) -> list[tuple[str, list[dict[str, Any]]]]:
    """An Anthropic-wire request's messages as (role, content blocks), a string content as one text block."""
    turns = []
    for message in request.json["messages"]:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        turns.append((message["role"], blocks))
    return turns


def anthropic_results(request: Recorded) -> list[tuple[str, bool, str]]:
    """The tool results of the request's last (user) message: (tool_use_id, is_error, text) each."""
    role, blocks = anthropic_turns(request)[-1]
    assert role == "user", request.json["messages"]
    assert all(block["type"] == "tool_result" for block in blocks), blocks
    return [(b["tool_use_id"], b.get("is_error") is True, block_text(b.get("content", ""))) for b in blocks]


def tool_uses(blocks: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(b["id"], b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]


def openai_tail(request: Recorded, count: int) -> list[dict[str, Any]]:
    """The last `count` messages of an OpenAI-wire request, tool calls' arguments parsed."""
    messages: list[dict[str, Any]] = request.json["messages"][-count:]
    for message in messages:
        for call in message.get("tool_calls") or ():
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return messages


def gemini_tail(request: Recorded, count: int) -> list[dict[str, Any]]:
    """The last `count` contents of a Gemini request."""
    contents: list[dict[str, Any]] = request.json["contents"][-count:]
    return contents


def beta_kinds(blocks: list[Any]) -> list[type]:
    """The beta block class of each block (the stream helper's blocks are subclasses, e.g. ParsedBetaTextBlock)."""
    kinds = (BetaMCPToolUseBlock, BetaMCPToolResultBlock, BetaToolUseBlock, BetaTextBlock)
    return [next((kind for kind in kinds if isinstance(block, kind)), type(block)) for block in blocks]


def summary_of(text: str) -> list[dict[str, Any]]:
    """The executed tools of a mixed answer's summary text (Bifrost's `{"executed_tools": [...]}`), each tool's
    arguments as an object whether they were sent as one or as a JSON string."""
    executed: list[dict[str, Any]] = json.loads(text)["executed_tools"]
    for tool in executed:
        if isinstance(tool["arguments"], str):
            tool["arguments"] = json.loads(tool["arguments"])
    return executed
