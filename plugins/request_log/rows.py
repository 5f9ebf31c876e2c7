"""One request-log row, built from what the observe hooks see of a call."""

from __future__ import annotations

import time

import msgspec

from gateway.api import CallContext, ChatCall, PriceTable, Target
from gateway.api import anthropic as a

_ENCODER = msgspec.json.Encoder()
OPT_OUT = "x-bf-disable-content-logging"


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `logs`, as stored and as `/api/logs` answers it (`id` is 0 until it is written)."""

    id: int = 0
    time: float  # Unix seconds, when the call was done
    request_id: str
    route: str
    dialect: str
    stream: bool = False
    virtual_key: str | None = None  # the key's name (never its value)
    team: str | None = None
    model: str  # as the client asked for it
    provider: str | None = None  # who served it (or was last tried)
    upstream_model: str | None = None
    fallback_trail: list[str] = msgspec.field(default_factory=list)  # "provider/model" tried, in order
    fallback_index: int = 0
    attempts: int = 0
    status: int = 200
    error: str | None = None  # "kind: message", as the client got it (secrets masked by the gateway)
    latency_ms: float = 0.0
    ttft_ms: float | None = None  # streams: from the request to the first chunk with content
    # Time spent in the gateway itself until the answer (ctx.overhead_seconds: less the waits on providers and on
    # what plugins declare outside), as bifrost_overhead_latency_microseconds counts it; None without an answer.
    overhead_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None  # None when no price is known
    cache_hit: bool = False
    job_id: str | None = None  # the async job the call ran for
    content: str | None = None  # JSON {"system", "messages", "answer"} when content logging is on


class Content(msgspec.Struct, frozen=True, omit_defaults=True):
    messages: list[a.MessageParam]
    system: str | list[a.ContentBlock] | None = None
    answer: list[a.ContentBlock] | None = None


class Answer:
    """Per-call state: the complete answer, kept (by reference) for the content column."""

    __slots__ = ("message",)

    def __init__(self) -> None:
        self.message: a.Message | None = None


def route_of(call: ChatCall, ctx: CallContext, job_id: str | None) -> str:
    if job_id is not None:
        return "/v1/async/messages" if call.dialect == "anthropic" else "/v1/async/chat/completions"
    prefix = f"/{ctx.route_prefix}" if ctx.route_prefix else ""
    return f"{prefix}/v1/messages" if call.dialect == "anthropic" else f"{prefix}/v1/chat/completions"


def base_row(call: ChatCall, ctx: CallContext, target: Target | None, content: bool) -> Row:
    principal = ctx.principal
    key = principal.name or principal.id if principal and principal.kind == "virtual_key" else None
    job = call.idempotency_key.removeprefix("bf-job-") if call.idempotency_key else None
    plan = ctx.plan
    tried = plan.targets[: ctx.fallback_index + 1] if plan else ()
    return Row(
        time=time.time(),
        request_id=ctx.request_id,
        route=route_of(call, ctx, job),
        dialect=call.dialect,
        stream=call.stream,
        virtual_key=key,
        team=principal.team if principal else None,
        model=call.model,
        provider=target.provider if target else None,
        upstream_model=target.model if target else None,
        fallback_trail=[f"{t.provider}/{t.model}" for t in tried],
        fallback_index=ctx.fallback_index,
        attempts=ctx.attempts,
        latency_ms=round((time.monotonic() - ctx.started) * 1000, 3),
        ttft_ms=_ttft_ms(ctx),
        overhead_ms=_overhead_ms(ctx),
        job_id=job,
        content=_content(call, ctx) if content else None,
    )


def _ttft_ms(ctx: CallContext) -> float | None:
    first = ctx.first_token_at
    return None if first is None else round((first - ctx.started) * 1000, 3)


def _overhead_ms(ctx: CallContext) -> float | None:
    overhead = ctx.overhead_seconds
    return None if overhead is None else round(overhead * 1000, 3)


def with_usage(row: Row, usage: a.Usage, target: Target | None, prices: PriceTable) -> Row:
    return msgspec.structs.replace(
        row,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_input_tokens or 0,
        cache_write_tokens=usage.cache_creation_input_tokens or 0,
        cost_usd=prices.cost_of(target, usage) if target is not None else None,
    )


def wants_content(ctx: CallContext) -> bool:
    """The request and its caller let content be logged (the client setting is checked once, at start)."""
    if ctx.principal is not None and ctx.principal.disable_content_logging:
        return False
    return ctx.headers.get(OPT_OUT, "").strip().lower() not in ("true", "1", "yes")


def _content(call: ChatCall, ctx: CallContext) -> str | None:
    if not wants_content(ctx):
        return None
    answer = ctx.state(Answer).message
    system = call.request.system
    value = Content(
        messages=call.request.messages,
        system=None if isinstance(system, msgspec.UnsetType) else system,
        answer=answer.content if answer is not None else None,
    )
    return _ENCODER.encode(value).decode()
