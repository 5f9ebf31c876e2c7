"""The request hooks: gw_admit_cached counts a cache hit (on the path of cache hits only); the rest is observed
off the call's path."""

from __future__ import annotations

from collections.abc import Mapping

from gateway import hookimpl
from gateway.api import CallContext, ChatCall, ChatResult, GatewayError, PriceTable, Target, anthropic

from .series import Series

CACHE_HIT_HEADER = "x-bf-cache-hit"  # set by the response cache on a hit: "direct" or "semantic"
DIMENSION_PREFIX = "x-bf-dim-"
TEAM_DIMENSION = DIMENSION_PREFIX + "team"


class MetricsHooks:
    def __init__(self, series: Series, prices: PriceTable) -> None:
        self.series = series
        self.prices = prices

    @hookimpl(trylast=True)
    def gw_admit_cached(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> None:
        """A cache answered, and every other plugin admitted it (this runs last). A cache hit records no usage:
        this is the one moment a plugin hears of it, and it costs the calls a cache does not answer nothing."""
        cache_type = ctx.response_headers.get(CACHE_HIT_HEADER)
        if cache_type is not None:
            labels = self.labels(ctx, Target(provider="", model=call.model))
            self.series.cache_hits.inc((*labels, self.series.bounded("cache_type", cache_type)))

    @hookimpl
    def gw_record_usage(self, call: ChatCall, usage: anthropic.Usage, ctx: CallContext) -> None:
        target = call.target or ctx.served_by
        series = self.series.call(self.labels(ctx, target))
        series.upstream_requests += 1
        series.success += 1
        series.upstream_latency.observe(ctx.upstream_seconds)
        prompt = usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
        series.input_tokens += prompt
        series.output_tokens += usage.output_tokens
        cost = self.prices.cost_of(target, usage) if target is not None else None
        if cost:
            series.cost += cost
        if ctx.first_token_at is not None:
            series.first_token.observe(ctx.first_token_at - ctx.started)
        overhead = ctx.overhead_seconds
        if overhead is not None:
            series.overhead.observe(overhead * 1_000_000)

    @hookimpl
    def gw_record_error(self, call: ChatCall, error: GatewayError, ctx: CallContext) -> None:
        series = self.series
        labels = self.labels(ctx, _tried(call, ctx))
        if ctx.attempts:
            counts = series.call(labels)
            counts.upstream_requests += 1
            counts.upstream_latency.observe(ctx.upstream_seconds)
        series.errors.inc((*labels, str(error.status), series.bounded("error_type", error.kind)))

    def labels(self, ctx: CallContext, target: Target | None) -> tuple[str, ...]:
        """The base labels, then the custom ones (from x-bf-dim-<label>), every value bounded."""
        principal = ctx.principal
        named = principal is not None and principal.kind == "virtual_key"
        raw = (
            target.provider if target is not None else "",
            target.model if target is not None else "",
            principal.name if named and principal is not None else "",
            (principal.team if principal is not None else None) or self._team_dimension(ctx),
            str(ctx.fallback_index),
            *dimensions(self.series, ctx.headers),
        )
        return self.series.call_labels(raw)

    def _team_dimension(self, ctx: CallContext) -> str:
        return ctx.headers.get(TEAM_DIMENSION, "") if self.series.team_from_header else ""


def dimensions(series: Series, headers: Mapping[str, str]) -> tuple[str, ...]:
    """The custom labels' values as sent (x-bf-dim-<label>; "" when absent), not yet bounded."""
    return tuple(headers.get(DIMENSION_PREFIX + name, "") for name in series.custom)


def custom_labels(series: Series, headers: Mapping[str, str]) -> tuple[str, ...]:
    return series.custom_labels(dimensions(series, headers)) if series.custom else ()


def _tried(call: ChatCall, ctx: CallContext) -> Target | None:
    """The target the failed call was last on (None: it failed before routing)."""
    if call.target is not None:
        return call.target
    plan = ctx.plan
    if plan is not None and ctx.fallback_index < len(plan.targets):
        return plan.targets[ctx.fallback_index]
    return None
