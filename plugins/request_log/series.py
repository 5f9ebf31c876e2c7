"""`/api/logs/series`: the log's rows summed per time bucket (what the dashboard's charts draw), in SQLite: one
grouped query for the counts and sums, and window functions for the nearest-rank percentiles."""

from __future__ import annotations

import math

import aiosqlite
import msgspec
from multidict import MultiMapping

from gateway.api import InvalidRequest

from .query import Filters, parse_time, where

MAX_BUCKETS = 1000  # a range and bucket giving more are refused: the answer's size stays bounded
# Percentiles rank at most about this many rows: a range holding more is sampled (every k-th row id; ids follow
# time, so the sample is spread evenly). Ranking all of a day's million rows took SQLite 4.6 s; counts and sums
# stay exact.
PERCENTILE_SAMPLE = 100_000
DEFAULT_RANGE = 3600.0
DEFAULT_BUCKET = 60.0


class Span(msgspec.Struct, frozen=True):
    since: float  # Unix seconds, inclusive: the first bucket starts here
    until: float  # exclusive
    bucket: float  # seconds

    @property
    def count(self) -> int:
        return math.ceil((self.until - self.since) / self.bucket)


class Bucket(msgspec.Struct, frozen=True):
    start: float  # Unix seconds; the bucket holds [start, start + bucket)
    requests: int = 0
    errors: int = 0  # status >= 400
    p50_latency_ms: float | None = None
    p99_latency_ms: float | None = None
    p50_overhead_ms: float | None = None
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


def parse_span(query: MultiMapping[str], now: float) -> Span:
    """`since`, `until` (Unix seconds or RFC 3339; default the last hour to now) and `bucket` (seconds, default
    60); a bad or too fine pair is a 400 naming its parameter."""
    until = parse_time(query, "until") or now
    since = parse_time(query, "since") or until - DEFAULT_RANGE
    raw = query.get("bucket") or str(DEFAULT_BUCKET)
    try:
        bucket = float(raw)
    except ValueError:
        raise InvalidRequest(f"bucket: {raw!r} is not a number of seconds", param="bucket") from None
    if not bucket >= 1:  # NaN fails this too
        raise InvalidRequest("bucket: must be at least 1 (seconds)", param="bucket")
    if not since < until:
        raise InvalidRequest("since: must be before until", param="since")
    span = Span(since, until, bucket)
    if span.count > MAX_BUCKETS:
        raise InvalidRequest(
            f"bucket: {span.count} buckets of {bucket:g} s in that range; at most {MAX_BUCKETS} (a larger bucket or a"
            " shorter range)",
            param="bucket",
        )
    return span


async def bucket_series(
    db: aiosqlite.Connection, span: Span, filters: Filters, sample: int = PERCENTILE_SAMPLE
) -> list[Bucket]:
    """Every bucket of the span, empty ones included (a chart needs its gaps); percentiles of at most about
    `sample` rows."""
    sql, params = where(msgspec.structs.replace(filters, start=span.since, end=span.until, before=None))
    index = "CAST((time - ?) / ? AS INTEGER)"
    totals = (
        f"SELECT {index} AS b, COUNT(*), SUM(status >= 400), COALESCE(SUM(cost_usd), 0), SUM(input_tokens),"
        f" SUM(output_tokens) FROM logs{sql} GROUP BY b"
    )
    found: dict[int, Bucket] = {}
    async with db.execute(totals, [span.since, span.bucket, *params]) as cursor:
        for b, requests, errors, cost, tokens_in, tokens_out in await cursor.fetchall():
            found[int(b)] = Bucket(
                span.since + int(b) * span.bucket, int(requests), int(errors), cost_usd=float(cost),
                input_tokens=int(tokens_in), output_tokens=int(tokens_out),
            )  # fmt: skip
    every = max(1, math.ceil(sum(b.requests for b in found.values()) / sample))
    latency = await _percentiles(db, "latency_ms", sql, params, span, every)
    overhead = await _percentiles(db, "overhead_ms", sql, params, span, every)
    series = []
    for b in range(span.count):
        bucket = found.get(b)
        if bucket is None:
            series.append(Bucket(span.since + b * span.bucket))
            continue
        p50, p99 = latency.get(b, (None, None))
        series.append(msgspec.structs.replace(bucket, p50_latency_ms=p50, p99_latency_ms=p99,
                                              p50_overhead_ms=overhead.get(b, (None, None))[0]))  # fmt: skip
    return series


async def _percentiles(
    db: aiosqlite.Connection, column: str, sql: str, params: list[object], span: Span, every: int
) -> dict[int, tuple[float | None, float | None]]:
    """Per bucket, the nearest-rank p50 and p99 of `column` (its NULLs left out): each row ranked within its
    bucket, and the rows at ceil(0.5 n) and ceil(0.99 n) kept; of every `every`-th row only (see
    PERCENTILE_SAMPLE)."""
    present = f"{column} IS NOT NULL" + (f" AND id % {int(every)} = 0" if every > 1 else "")
    clause = f"{sql} AND {present}" if sql else f" WHERE {present}"
    query = f"""
        WITH ranked AS (
            SELECT CAST((time - ?) / ? AS INTEGER) AS b, {column} AS v,
                   ROW_NUMBER() OVER (PARTITION BY CAST((time - ?) / ? AS INTEGER) ORDER BY {column}) AS rn,
                   COUNT(*) OVER (PARTITION BY CAST((time - ?) / ? AS INTEGER)) AS n
            FROM logs{clause}
        )
        SELECT b, MAX(CASE WHEN rn = {_ceil("0.5 * n")} THEN v END), MAX(CASE WHEN rn = {_ceil("0.99 * n")} THEN v END)
        FROM ranked GROUP BY b
    """
    bounds = [span.since, span.bucket] * 3
    async with db.execute(query, [*bounds, *params]) as cursor:
        return {int(b): (p50, p99) for b, p50, p99 in await cursor.fetchall()}


def _ceil(expression: str) -> str:
    """SQLite's ceil (its math functions are not in every build)."""
    return f"(CAST({expression} AS INTEGER) + ({expression} > CAST({expression} AS INTEGER)))"
