"""Manual execution: `POST /v1/mcp/tool/execute` runs one tool call on its MCP server and answers its result.

The body is one OpenAI tool call (`{"id", "type": "function", "function": {"name", "arguments"}}`), answered as a
`{"role": "tool", "tool_call_id", "content"}` message; with `?format=anthropic` it is a `tool_use` block, answered
as a `tool_result` block. The caller is authenticated as for inference, and the same filters apply as to
injection. A tool that reports an error (MCP's `isError`) ran: that is a 200 whose result says so; every failure to
run it is a `tool_execution_error` with its own status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from aiohttp import web
from mcp import types

from gateway.api import GatewayError, InvalidRequest, decode_json, start_call

from .connections import Connection
from .inject import INCLUDE_CLIENTS, INCLUDE_TOOLS, _names, _pattern

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
    await start_call(request, "")
    form = request.query.get("format", "openai")
    if form not in ("openai", "anthropic"):
        raise InvalidRequest(f"format must be openai or anthropic, not {form!r}", param="format")
    body = await request.read()
    if form == "anthropic":
        use = decode_json(_ANTHROPIC.decode, body)
        call_id, name, arguments = use.id, use.name, use.input
    else:
        call = decode_json(_OPENAI.decode, body)
        call_id, name, arguments = call.id, call.function.name, _arguments(call.function.arguments)
    connection, tool = _find(connections, name, request)
    result = await _call(connection, tool, arguments)
    texts = _texts(result)
    if form == "anthropic":
        answer: msgspec.Struct = ToolResult(
            tool_use_id=call_id, content=[Text(t) for t in texts], is_error=bool(result.is_error)
        )
    else:
        joined = "\n".join(texts)
        answer = ToolMessage(tool_call_id=call_id, content=f"Error: {joined}" if result.is_error else joined)
    return web.Response(body=_ENCODER.encode(answer), content_type="application/json")


def _arguments(text: str) -> dict[str, Any]:
    try:
        return _ARGUMENTS.decode(text or "{}")
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise failure("function.arguments: expected a JSON object (as a string)", 400) from None


def _find(connections: Sequence[Connection], name: str, request: web.Request) -> tuple[Connection, str]:
    """The connection and the server's own name of the tool `{client}-{tool}`, if this caller may run it."""
    client, _, tool = name.partition("-")
    connection = next((c for c in connections if c.config.name == client), None)
    if connection is None or not tool:
        raise failure(f"unknown tool {name!r}: no MCP client is named {client!r}", 404)
    if not connection.config.allows(tool):
        raise failure(f"tool {name!r} is not allowed (mcp client {client}'s tools_to_execute)", 403)
    clients = _names(request.headers.get(INCLUDE_CLIENTS))
    pattern = _pattern(request.headers.get(INCLUDE_TOOLS))
    if (clients is not None and client not in clients) or (pattern is not None and not pattern.match(name)):
        raise failure(f"tool {name!r} is not allowed by the x-bf-mcp-include-* headers", 403)
    if connection.client is None:
        raise failure(f"mcp client {client} is disconnected; try again later", 503)
    if all(listed.tool != tool for listed in connection.tools):
        raise failure(f"unknown tool {name!r}: mcp client {client} lists no tool {tool!r}", 404)
    return connection, tool


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


def _texts(result: types.CallToolResult) -> list[str]:
    """The result's text blocks; other blocks (images, resources) by their kind, structured content as JSON."""
    texts = [block.text if isinstance(block, types.TextContent) else f"[{block.type}]" for block in result.content]
    if not texts and result.structured_content is not None:
        texts.append(_ENCODER.encode(result.structured_content).decode())
    return texts
