"""Agent mode: the tools listed in a client's `tools_to_auto_execute` are run by the gateway, which then calls the
model again with their results, until the model answers without them (see `rounds.py` for the rules).

Registered only when some client has auto-executable tools; on a call that was offered none of them the hooks
look at one per-call state and return. A complete answer is looped here (gw_transform_response, with
`ctx.call_target`); a stream through its own wrapper (`agent_stream.py`, with `ctx.stream_target`), so that the
last round streams to the client as it comes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from msgspec.structs import replace

from gateway import CallContext, ChatCall, ChatResult, hookimpl
from gateway.api import GatewayError, total_usage
from gateway.api import anthropic as a

from .agent_stream import agent_stream
from .config import McpConfig
from .connections import Connection, McpTool
from .connector import servers as connector_servers
from .execute import run_tool
from .inject import Injected
from .rounds import Limits, Outcome, Tools, decide, limits, next_messages, outcome_of, run_all, shown

NAME = "mcp.agent"


@dataclass(slots=True)
class Looping:
    """Per call: the tools and bounds of the attempt being made (complete answers only)."""

    tools: Tools | None = None
    bounds: Limits | None = None


class ConfiguredTools:
    """`Tools` over the configured MCP clients: the auto-executable tools offered on one call."""

    def __init__(self, connections: Sequence[Connection], offered: dict[str, McpTool], ctx: CallContext) -> None:
        self._connections = tuple(connections)
        self._offered = offered
        self._ctx = ctx

    def server_of(self, name: str) -> tuple[str, str] | None:
        tool = self._offered.get(name)
        return None if tool is None else (tool.client, tool.tool)

    async def run(self, name: str, arguments: dict[str, Any]) -> Outcome:
        try:  # recorded (gw_record_tool_call) like any tool call; admitted with the inference call it is part of
            result = await run_tool(self._connections, name, arguments, self._ctx, "agent", admit=False)
        except GatewayError as exc:  # timeout, server gone: the model hears of it and may recover
            return Outcome(texts=(exc.message,), is_error=True)
        return outcome_of(result)


class Combined:
    """The configured clients' auto-executable tools and a request's own servers (the connector), as one."""

    def __init__(self, *parts: Tools | None) -> None:
        self.parts = tuple(part for part in parts if part is not None)

    def server_of(self, name: str) -> tuple[str, str] | None:
        return next((found for part in self.parts if (found := part.server_of(name)) is not None), None)

    async def run(self, name: str, arguments: dict[str, Any]) -> Outcome:
        owner = next((part for part in self.parts if part.server_of(name) is not None), None)
        if owner is None:
            return Outcome(texts=(f"no MCP tool is named {name!r}",), is_error=True)
        return await owner.run(name, arguments)


class Agent:
    def __init__(self, connections: Sequence[Connection], config: McpConfig) -> None:
        self.connections = tuple(connections)
        self.depth = config.tool_manager_config.max_agent_depth

    @hookimpl
    def gw_transform_request(self, call: ChatCall, ctx: CallContext) -> None:
        offered = ctx.state(Injected).auto
        listed = connector_servers(ctx)  # a request's own servers, when the gateway runs them (always visible)
        ctx.wrap_stream(NAME, None)
        looping = ctx.state(Looping)
        looping.tools = looping.bounds = None
        if not offered and listed is None:
            return
        configured = ConfiguredTools(self.connections, offered, ctx) if offered else None
        tools = Combined(configured, listed)
        bounds = limits(call, ctx, self.depth, visible=listed is not None)
        if call.stream:
            ctx.wrap_stream(NAME, agent_stream(tools, bounds, ctx))
        else:
            looping.tools, looping.bounds = tools, bounds

    @hookimpl
    async def gw_transform_response(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> ChatResult | None:
        looping = ctx.state(Looping)
        if looping.tools is None or looping.bounds is None:
            return None
        return await complete(call, result, ctx, looping.tools, looping.bounds)


async def complete(call: ChatCall, result: ChatResult, ctx: CallContext, tools: Tools, bounds: Limits) -> ChatResult:
    """Loop a complete answer: run the calls the gateway runs, ask again, until the model is done."""
    answer = result.message
    decided = decide(answer, tools, 0, bounds)
    if not decided.auto:
        return result  # untouched (a relayed body stays relayed)
    content: list[a.ContentBlock] = []
    usages: list[a.Usage] = []
    messages = call.request.messages
    rounds = 0
    while True:
        with ctx.waiting_outside():  # the tools' time is not the gateway's overhead
            outcomes = await run_all(decided.auto, tools)
        decided.ran(bounds)
        content += shown(answer, decided, outcomes, tools, bounds.visible)
        if not decided.goes_on:  # calls left for the client, or no time for another model call
            answer = decided.ending(answer)
            break
        messages = next_messages(messages, answer, decided.auto, outcomes)
        rounds += 1
        answer = (await ctx.call_target(replace(call, request=replace(call.request, messages=messages)))).message
        usages.append(answer.usage)
        decided = decide(answer, tools, rounds, bounds)
        if not decided.auto:
            content += answer.content  # the model is done (or out of rounds): its answer as it is
            break
    first = result.message
    usage = total_usage(first.usage, usages)
    return replace(result, message=replace(answer, id=first.id, content=content, usage=usage), native=None)
