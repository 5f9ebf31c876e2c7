"""Manual execution: `POST /v1/mcp/tool/execute` runs one tool call on its MCP server and answers its result.

The body is one OpenAI tool call (`{"id", "type": "function", "function": {"name", "arguments"}}`), answered as a
`{"role": "tool", "tool_call_id", "content"}` message; with `?format=anthropic` it is a `tool_use` block, answered
as a `tool_result` block. The caller is authenticated as for inference, the same filters apply as to injection
(access.py), governance admits it (gw_admit_tool_call: a key's request rate limits) and observers see it
(gw_record_tool_call). A tool that reports an error (MCP's `isError`) ran: that is a 200 whose result says so;
every failure to run it is a `tool_execution_error` with its own status, in the format's dialect.

`run_tool` is the part `/mcp` and agent mode share: find, check, admit, run, record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from aiohttp import web
from mcp import types

from gateway.api import (
    ERROR_DIALECT,
    CallContext,
    GatewayError,
    InvalidRequest,
    ToolCall,
    ToolOutcome,
    admit_tool_call,
    decode_json,
    record_tool_call,
    start_call,
)

from .access import Access, access_of
from .connections import Connection
from .rounds import outcome_of

ROUTE = "/v1/mcp/tool/execute"
KIND = "tool_execution_error"


class Function(msgspec.Struct, frozen=True):
    name: str
    arguments: str = "{}"


class OpenAIToolCall(msgspec.Struct, frozen=True):
    id: str
    function: Function
    type: Literal["function"] = "function"


class ToolUse(msgspec.Struct, frozen=True):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, Any] = msgspec.field(default_factory=dict)


class Text(msgspec.Struct, frozen=True):
    text: str
    type: str = "text"


class ToolMessage(msgspec.Struct, frozen=True):
    tool_call_id: str
    content: str
    role: str = "tool"


class ToolResult(msgspec.Struct, frozen=True):
    tool_use_id: str
    content: list[Text]
    is_error: bool
    type: str = "tool_result"


_OPENAI = msgspec.json.Decoder(OpenAIToolCall)
_ANTHROPIC = msgspec.json.Decoder(ToolUse)
_ENCODER = msgspec.json.Encoder()
_ARGUMENTS = msgspec.json.Decoder(dict[str, Any])


def failure(message: str, status: int) -> GatewayError:
    return GatewayError(message, status=status, kind=KIND)


def add_route(app: web.Application, key: web.AppKey[tuple[Connection, ...]]) -> None:
    """The route exists whatever the config: with no MCP client, every tool is unknown (404)."""

    async def execute(request: web.Request) -> web.Response:
        connections: tuple[Connection, ...] = request.app[key] if key in request.app else ()
        return await _execute(request, connections)

    app.router.add_post(ROUTE, execute)


async def _execute(request: web.Request, connections: Sequence[Connection]) -> web.Response:
    form = request.query.get("format", "openai")
    if form == "anthropic":
        request[ERROR_DIALECT] = "anthropic"  # its errors in the shape of the block it answers with
    ctx = await start_call(request, "")
    if form not in ("openai", "anthropic"):
        raise InvalidRequest(f"format must be openai or anthropic, not {form!r}", param="format")
    body = await request.read()
    arguments: dict[str, Any] | str
    if form == "anthropic":
        use = decode_json(_ANTHROPIC.decode, body)
        call_id, name, arguments = use.id, use.name, use.input
    else:
        call = decode_json(_OPENAI.decode, body)
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
    outcome = outcome_of(await run_tool(connections, name, arguments, ctx, "execute"))
    if form == "anthropic":
        answer: msgspec.Struct = ToolResult(
            tool_use_id=call_id, content=[Text(t) for t in outcome.texts], is_error=outcome.is_error
        )
    else:
        joined = "\n".join(outcome.texts)
        answer = ToolMessage(tool_call_id=call_id, content=f"Error: {joined}" if outcome.is_error else joined)
    return web.Response(body=_ENCODER.encode(answer), content_type="application/json")


async def run_tool(
    connections: Sequence[Connection],
    name: str,
    arguments: dict[str, Any] | str,
    ctx: CallContext,
    via: Literal["execute", "mcp", "agent"],
    admit: bool = True,
) -> types.CallToolResult:
    """Run the tool `name` (`{client}-{tool}`) for the call's caller, with `arguments` (an object, or its JSON text
    as OpenAI sends it): checked against the caller's access, admitted by governance (unless `admit` is False: an
    agent round belongs to an inference call already admitted), run with its timeout, and recorded however it
    ends. Every failure is a `tool_execution_error` GatewayError; a tool's own error is a result with is_error."""
    started = time.monotonic()
    client, _, tool = name.partition("-")
    record = ToolCall(name=name, client=client, tool=tool, via=via)
    try:
        connection = _find(connections, name, access_of(ctx.headers, ctx.principal))
        parsed = _arguments(arguments) if isinstance(arguments, str) else arguments
        if admit:
            await admit_tool_call(record, ctx)
        result = await _call(connection, tool, parsed)
    except GatewayError as exc:
        record_tool_call(record, ToolOutcome(duration_s=time.monotonic() - started, error=exc), ctx)
        raise
    outcome = ToolOutcome(duration_s=time.monotonic() - started, is_error=bool(result.is_error))
    record_tool_call(record, outcome, ctx)
    return result


def _arguments(text: str) -> dict[str, Any]:
    try:
        return _ARGUMENTS.decode(text or "{}")
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise failure("function.arguments: expected a JSON object (as a string)", 400) from None


def _find(connections: Sequence[Connection], name: str, access: Access) -> Connection:
    """The connection of the tool `{client}-{tool}`, if this caller may run it."""
    client, _, tool = name.partition("-")
    connection = next((c for c in connections if c.config.name == client), None)
    if connection is None or not tool:
        raise failure(f"unknown tool {name!r}: no MCP client is named {client!r}", 404)
    if not connection.config.allows(tool):
        raise failure(f"tool {name!r} is not allowed (mcp client {client}'s tools_to_execute)", 403)
    refusal = access.refusal(client, tool)
    if refusal is not None:
        raise failure(refusal, 403)
    if connection.client is None:
        raise failure(f"mcp client {client} is disconnected; try again later", 503)
    if all(listed.tool != tool for listed in connection.tools):
        raise failure(f"unknown tool {name!r}: mcp client {client} lists no tool {tool!r}", 404)
    return connection


async def _call(connection: Connection, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
    config = connection.config
    timeout = config.tool_execution_timeout or connection.section.tool_manager_config.tool_execution_timeout
    client = connection.client
    if client is None:  # it dropped since _find looked
        raise failure(f"mcp client {config.name} is disconnected; try again later", 503)
    try:
        async with asyncio.timeout(timeout):
            return await client.call_tool(tool, arguments)
    except TimeoutError:
        raise failure(f"tool {config.name}-{tool} did not answer within {timeout:g}s", 504) from None
    except Exception as exc:  # the server or its connection failed: named by kind only (the text may hold secrets)
        raise failure(f"mcp client {config.name} failed to run {tool} ({type(exc).__name__})", 502) from None
