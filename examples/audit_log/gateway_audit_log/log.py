"""Audit entries: what one call was, who made it, what it cost and what was decided."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
from msgspec.structs import replace

from gateway.api import CallContext, ChatCall, GatewayError, PriceTable, Target, ToolCall, ToolOutcome, hookimpl
from gateway.api import anthropic as a

DENIED = frozenset({401, 402, 403, 429})  # the gateway said no (keys, budgets, permissions, limits)


class Caller(msgspec.Struct, frozen=True):
    id: str | None
    name: str | None
    kind: str | None
    team: str | None


class Entry(msgspec.Struct, frozen=True, omit_defaults=True):
    """One line of the log."""

    time: float  # Unix seconds
    request_id: str
    decision: str  # "allowed" | "denied" | "failed"
    caller: Caller
    model: str  # as the client asked for it
    provider: str | None = None  # who served it (or was last tried)
    upstream_model: str | None = None
    status: int = 200
    error: str | None = None  # the error type and message the client got (secrets masked by the gateway)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None  # None when no price is known for the model
    fallback_index: int = 0
    attempts: int = 0


class ToolEntry(msgspec.Struct, frozen=True, omit_defaults=True, tag="tool_call", tag_field="kind"):
    """One line of the log for a tool the gateway ran for a caller (no model: no tokens, no cost)."""

    time: float
    request_id: str
    decision: str  # "allowed" | "denied" | "failed"
    caller: Caller
    tool: str  # `{client}-{tool}`
    via: str  # "execute" | "mcp" | "agent"
    duration_ms: float
    status: int = 200
    is_error: bool = False  # it ran and reported an error
    error: str | None = None


class AuditLog:
    """Appends entries to a JSON-lines file; each line is written whole and flushed, so a crash loses none."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")
        self._encoder = msgspec.json.Encoder()

    def write(self, entry: Entry | ToolEntry) -> None:
        self._file.write(self._encoder.encode(entry) + b"\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class AuditHooks:
    """Observers: they run after the answer went out, off the request path."""

    def __init__(self, log: AuditLog, prices: PriceTable) -> None:
        self._log = log
        self._prices = prices

    @hookimpl
    def gw_record_usage(self, call: ChatCall, usage: a.Usage, ctx: CallContext) -> None:
        target = call.target or ctx.served_by
        entry = replace(
            _entry(call, ctx, "allowed", target),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
            cache_write_tokens=usage.cache_creation_input_tokens or 0,
            cost_usd=self._prices.cost_of(target, usage) if target is not None else None,
        )
        self._log.write(entry)

    @hookimpl
    def gw_record_error(self, call: ChatCall, error: GatewayError, ctx: CallContext) -> None:
        decision = "denied" if error.status in DENIED else "failed"
        plan = ctx.plan
        target = ctx.served_by or (plan.targets[ctx.fallback_index] if plan else None)
        entry = replace(
            _entry(call, ctx, decision, target), status=error.status, error=f"{error.kind}: {error.message}"
        )
        self._log.write(entry)

    @hookimpl
    def gw_record_tool_call(self, tool: ToolCall, outcome: ToolOutcome, ctx: CallContext) -> None:
        error = outcome.error
        decision = "allowed" if error is None else "denied" if error.status in DENIED else "failed"
        entry = ToolEntry(
            time=time.time(),
            request_id=ctx.request_id,
            decision=decision,
            caller=_caller(ctx),
            tool=tool.name,
            via=tool.via,
            duration_ms=round(outcome.duration_s * 1000, 3),
            status=200 if error is None else error.status,
            is_error=outcome.is_error,
            error=None if error is None else f"{error.kind}: {error.message}",
        )
        self._log.write(entry)


def _caller(ctx: CallContext) -> Caller:
    principal = ctx.principal
    return Caller(
        id=principal.id if principal else None,
        name=principal.name if principal else None,
        kind=principal.kind if principal else None,
        team=principal.team if principal else None,
    )


def _entry(call: ChatCall, ctx: CallContext, decision: str, target: Target | None) -> Entry:
    return Entry(
        time=time.time(),
        request_id=ctx.request_id,
        decision=decision,
        caller=_caller(ctx),
        model=call.model,
        provider=target.provider if target else None,
        upstream_model=target.model if target else None,
        fallback_index=ctx.fallback_index,
        attempts=ctx.attempts,
    )
