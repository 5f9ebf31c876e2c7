"""The request log's hooks: observers (after the answer went out) that build a row and queue it."""

from __future__ import annotations

from msgspec.structs import replace

from gateway.api import (
    CallContext,
    ChatCall,
    ChatResult,
    Chunk,
    ChunkTransform,
    GatewayError,
    MessageAssembler,
    PriceTable,
    hookimpl,
)
from gateway.api import anthropic as a

from .rows import Answer, base_row, wants_content, with_usage
from .writer import RequestLog

STREAM_NAME = "logging"


class LogHooks:
    def __init__(self, log: RequestLog, prices: PriceTable, content: bool) -> None:
        self._log = log
        self._prices = prices
        self._content = content

    @hookimpl
    def gw_record_usage(self, call: ChatCall, usage: a.Usage, ctx: CallContext) -> None:
        target = call.target or ctx.served_by
        row = base_row(call, ctx, target, self._content)
        self._log.add(with_usage(row, usage, target, self._prices))

    @hookimpl
    def gw_record_error(self, call: ChatCall, error: GatewayError, ctx: CallContext) -> None:
        plan = ctx.plan
        target = ctx.served_by or (plan.targets[ctx.fallback_index] if plan else None)
        row = base_row(call, ctx, target, self._content)
        self._log.add(replace(row, status=error.status, error=f"{error.kind}: {error.message}"))

    @hookimpl(trylast=True)
    def gw_admit_cached(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> None:
        """A cache answered (and every other plugin admitted it, as this runs last): no usage will be recorded,
        so the row is queued here; queuing costs no more than an observer would."""
        if self._content and wants_content(ctx):
            ctx.state(Answer).message = result.message
        self._log.add(replace(base_row(call, ctx, None, self._content), cache_hit=True, cost_usd=0.0))


class ContentHooks:
    """Registered only with content logging on: keeps the complete answer for the row (by reference)."""

    @hookimpl(trylast=True)
    def gw_transform_response(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> None:
        if wants_content(ctx):
            ctx.state(Answer).message = result.message

    @hookimpl(trylast=True)
    def gw_transform_request(self, call: ChatCall, ctx: CallContext) -> None:
        """A stream whose content is logged is assembled as it passes (so it is decoded, not relayed as bytes:
        the price of content logging on a stream). Set per attempt: a fallback's stream starts afresh."""
        if call.stream and wants_content(ctx):
            ctx.transform_stream(STREAM_NAME, _assembling(ctx.state(Answer)))


def _assembling(answer: Answer) -> ChunkTransform:
    assembler = MessageAssembler()

    async def collect(call: ChatCall, chunk: Chunk) -> Chunk:
        for event in chunk.events:
            assembler.feed(event)
        if chunk.events and (message := assembler.message()) is not None:
            answer.message = message  # only a stream that ended: one cut short has no complete answer
        return chunk

    return collect
