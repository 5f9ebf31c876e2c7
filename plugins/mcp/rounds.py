"""Agent mode's rounds, whatever the call's form (a complete answer or a stream): which tool calls of an answer the
gateway runs, running them, and the blocks the client and the model get for them.

A round is one model answer. If its tool calls are all auto-executable, the gateway runs them (in parallel, each
with its own timeout), the model gets the assistant turn and the results, and the next round starts. Otherwise,
or once the depth or the time is used up, the answer goes to the client. What the client sees of a round it did not
ask for: its text and thinking; its tool calls and their results as `mcp_tool_use` / `mcp_tool_result` blocks when
`visible` (the Anthropic dialect with an MCP beta header, and the connector), hidden otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from mcp import types
from msgspec.structs import replace

from gateway import CallContext, ChatCall
from gateway.api import anthropic as a

MCP_BETAS = ("mcp-client-2025-04-04", "mcp-client-2025-11-20")
_ENCODER = msgspec.json.Encoder()
_ARGUMENTS = msgspec.json.Decoder(dict[str, Any])


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What running one tool call gave: its text, and whether it failed (never raised: the model may recover).
    A failure's text is the bare message: each wire marks it its own way (Anthropic's `is_error`, an "Error: "
    prefix on OpenAI's)."""

    texts: tuple[str, ...]
    is_error: bool


def outcome_of(result: types.CallToolResult) -> Outcome:
    """An MCP tool result as an Outcome: its text blocks; other blocks (images, resources) by their kind, and
    structured content as JSON when it has no blocks."""
    texts = [block.text if isinstance(block, types.TextContent) else f"[{block.type}]" for block in result.content]
    if not texts and result.structured_content is not None:
        texts.append(_ENCODER.encode(result.structured_content).decode())
    return Outcome(texts=tuple(texts), is_error=bool(result.is_error))


class Tools(Protocol):
    """The tools the gateway runs for one call: configured MCP clients' auto-executable tools, or the servers
    a request brought (the connector)."""

    def server_of(self, name: str) -> tuple[str, str] | None:
        """(server name, the server's own tool name) of a tool the model may call that the gateway runs; None
        for any other tool (the client's own, or one that needs a person's say)."""

    async def run(self, name: str, arguments: dict[str, Any]) -> Outcome:
        """Run it, never raising for the tool's failure, its timeout or its server's."""


@dataclass(slots=True)
class Limits:
    depth: int  # tool rounds at most
    deadline: float  # monotonic time after which no round starts
    visible: bool  # show executed calls as mcp_tool_use / mcp_tool_result blocks


def limits(call: ChatCall, ctx: CallContext, depth: int, visible: bool = False) -> Limits:
    """The loop's bounds: `depth` rounds, and none started once the provider's request timeout has passed
    since the call began (a loop must not outlive what one call to that provider may take)."""
    assert call.target is not None
    network = ctx.settings.providers[call.target.provider].network_config
    beta = call.dialect == "anthropic" and any(b in ctx.headers.get("anthropic-beta", "") for b in MCP_BETAS)
    return Limits(depth, ctx.started + network.default_request_timeout_in_seconds, visible or beta)


@dataclass(slots=True)
class Round:
    """The decision on one answer: the calls the gateway runs, and those left for the client."""

    auto: list[a.ContentBlock] = field(default_factory=list)
    pending: list[a.ContentBlock] = field(default_factory=list)
    paused: bool = False  # the calls ran, but the time was up: no model call may start (see `ran`)

    @property
    def goes_on(self) -> bool:
        """The loop continues: there is something to run, nothing for the client to answer, and time."""
        return bool(self.auto) and not self.pending and not self.paused

    def ran(self, bounds: Limits) -> None:
        """The `auto` calls have run: if that took the time left, the loop ends here, paused."""
        self.paused = bool(self.auto) and not self.pending and out_of_time(bounds)

    def ending(self, answer: a.Message) -> a.Message:
        """The last answer as the client's message ends: paused, it says so (Anthropic's `pause_turn`: the client
        may send it back as it is to let the model go on)."""
        return replace(answer, stop_reason=PAUSED) if self.paused else answer


def out_of_time(bounds: Limits) -> bool:
    return time.monotonic() >= bounds.deadline


PAUSED = "pause_turn"


def decide(message: a.Message, tools: Tools, rounds: int, bounds: Limits) -> Round:
    """Which tool calls of `message` the gateway runs now (none once depth or time is used up)."""
    uses = [block for block in message.content if block.type == "tool_use"]
    if message.stop_reason != "tool_use" or not uses:
        return Round()
    if rounds >= bounds.depth or out_of_time(bounds):
        return Round(pending=uses)
    decided = Round()
    for use in uses:
        (decided.auto if tools.server_of(_name(use)) is not None else decided.pending).append(use)
    return decided


async def run_all(uses: Sequence[a.ContentBlock], tools: Tools) -> list[Outcome]:
    """Every call at once; each bounded by its own timeout inside `tools.run`."""
    return list(await asyncio.gather(*(_run(use, tools) for use in uses)))


async def _run(use: a.ContentBlock, tools: Tools) -> Outcome:
    raw = use.input if isinstance(use.input, msgspec.Raw) else msgspec.Raw(b"{}")
    try:
        arguments = _ARGUMENTS.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Outcome(texts=("the tool's arguments are not a JSON object",), is_error=True)
    return await tools.run(_name(use), arguments)


def next_messages(
    messages: list[a.MessageParam], answer: a.Message, uses: Sequence[a.ContentBlock], outcomes: Sequence[Outcome]
) -> list[a.MessageParam]:
    """The conversation for the next round: the answer as the model gave it, and a user turn with the results."""
    results = [
        a.ContentBlock(
            type="tool_result",
            tool_use_id=use.id,
            content=[a.ContentBlock(type="text", text=text) for text in outcome.texts] or "",
            is_error=outcome.is_error or msgspec.UNSET,
        )
        for use, outcome in zip(uses, outcomes, strict=True)
    ]
    return [
        *messages,
        a.MessageParam(role="assistant", content=answer.content),
        a.MessageParam(role="user", content=results),
    ]


def shown(
    answer: a.Message, decided: Round, outcomes: Sequence[Outcome], tools: Tools, visible: bool
) -> list[a.ContentBlock]:
    """The blocks of a round the client sees: its own blocks but the tool calls, then `after_own`."""
    own = [block for block in answer.content if block.type != "tool_use"]
    return [*own, *after_own(decided, outcomes, tools, visible)]


def after_own(decided: Round, outcomes: Sequence[Outcome], tools: Tools, visible: bool) -> list[a.ContentBlock]:
    """The calls the gateway ran (as MCP blocks when visible; otherwise hidden, but in a round that ends the
    message, one that also left calls pending or was paused, summed up in a text), then the pending calls."""
    if visible:
        pairs = zip(decided.auto, outcomes, strict=True)
        executed = [block for use, outcome in pairs for block in mcp_blocks(use, outcome, tools)]
    elif decided.auto and (decided.pending or decided.paused):
        executed = [summary(decided.auto, outcomes)]
    else:
        executed = []
    return [*executed, *decided.pending]


def mcp_blocks(use: a.ContentBlock, outcome: Outcome, tools: Tools) -> list[a.ContentBlock]:
    """A call the gateway ran, as Anthropic's MCP connector shows it."""
    server, tool = tools.server_of(_name(use)) or ("", _name(use))
    return [
        a.ContentBlock(type="mcp_tool_use", id=use.id, name=tool, server_name=server, input=use.input),
        a.ContentBlock(
            type="mcp_tool_result",
            tool_use_id=use.id,
            is_error=outcome.is_error,
            content=[a.ContentBlock(type="text", text=text) for text in outcome.texts],
        ),
    ]


def summary(uses: Sequence[a.ContentBlock], outcomes: Sequence[Outcome]) -> a.ContentBlock:
    """Bifrost's record of the calls it ran in a round that also left calls for the client: a JSON text, so
    that the conversation the client goes on with still holds their results."""
    executed = [
        {
            "name": _name(use),
            "arguments": use.input if isinstance(use.input, msgspec.Raw) else {},
            "result": "\n".join(outcome.texts),
            "is_error": outcome.is_error,
        }
        for use, outcome in zip(uses, outcomes, strict=True)
    ]
    return a.ContentBlock(type="text", text=_ENCODER.encode({"executed_tools": executed}).decode())


def _name(use: a.ContentBlock) -> str:
    return use.name if isinstance(use.name, str) else ""
