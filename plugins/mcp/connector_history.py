"""A conversation that goes on carries the earlier rounds' `mcp_tool_use` / `mcp_tool_result` blocks in its
assistant messages. Only Anthropic (running the servers itself) takes them; for every other target they become
ordinary turns: the assistant message is split around them into assistant `tool_use` turns and user
`tool_result` turns, which every provider's translation knows.
"""

from __future__ import annotations

from msgspec import UNSET, Raw, UnsetType

from gateway.api import anthropic

from .connector_rules import MCP_BLOCKS
from .connector_sessions import offered_name

Block = anthropic.ContentBlock
_EMPTY = Raw(b"{}")


def rewrite(messages: list[anthropic.MessageParam]) -> list[anthropic.MessageParam] | None:
    """The messages with every MCP block made ordinary; None when there is none (the common case: no copy)."""
    if not any(_has_mcp(message) for message in messages):
        return None
    out: list[anthropic.MessageParam] = []
    for message in messages:
        if not _has_mcp(message):
            _append(out, message.role, message.content)
            continue
        assert isinstance(message.content, list)
        for role, blocks in _turns(message.content):
            _append(out, role, blocks)
    return out


def _has_mcp(message: anthropic.MessageParam) -> bool:
    return (
        message.role == "assistant"
        and isinstance(message.content, list)
        and any(block.type in MCP_BLOCKS for block in message.content)
    )


def _turns(blocks: list[Block]) -> list[tuple[str, list[Block]]]:
    """One assistant message's blocks as alternating turns: what the assistant said and called, then the
    results of those calls (as the user's), and so on."""
    turns: list[tuple[str, list[Block]]] = []
    said: list[Block] = []
    results: list[Block] = []
    for block in blocks:
        if block.type == "mcp_tool_result":
            results.append(_result(block))
            continue
        if results:  # a new round starts: close the last one
            turns += [("assistant", said), ("user", results)]
            said, results = [], []
        said.append(_use(block) if block.type == "mcp_tool_use" else block)
    turns += [("assistant", said), ("user", results)]
    return [(role, blocks) for role, blocks in turns if blocks]


def _use(block: Block) -> Block:
    server = block.server_name if isinstance(block.server_name, str) else ""
    name = block.name if isinstance(block.name, str) else ""
    arguments = block.input if isinstance(block.input, Raw) else _EMPTY
    return Block(type="tool_use", id=block.id, name=offered_name(server, name), input=arguments)


def _result(block: Block) -> Block:
    content: str | list[Block] | Block | UnsetType = block.content
    is_error = block.is_error if isinstance(block.is_error, bool) else UNSET
    return Block(type="tool_result", tool_use_id=block.tool_use_id, content=content, is_error=is_error)


def _append(out: list[anthropic.MessageParam], role: str, content: str | list[Block]) -> None:
    """Add a turn, merged into the last one if it has the same role (providers want roles to alternate)."""
    if out and out[-1].role == role:
        previous = out[-1].content
        merged = [*_blocks(previous), *_blocks(content)]
        if role == "user":  # tool results go first in a user turn
            merged.sort(key=lambda block: block.type != "tool_result")
        out[-1] = anthropic.MessageParam(role=role, content=merged)
    else:
        out.append(anthropic.MessageParam(role=role, content=content))


def _blocks(content: str | list[Block]) -> list[Block]:
    return [Block(type="text", text=content)] if isinstance(content, str) else list(content)
