"""`/api/logs` filters (the model every store shares) and SQLite's SQL for them: every value a bound parameter,
every column name from a fixed set."""

from __future__ import annotations

from datetime import UTC, datetime

import aiosqlite
import msgspec
from multidict import MultiMapping

from gateway.api import InvalidRequest

from .rows import Row

MAX_LIMIT = 1000
GROUPS = {"provider": "provider", "model": "model", "virtual_key": "virtual_key"}


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    start: float | None = None  # Unix seconds, inclusive
    end: float | None = None  # exclusive
    provider: str | None = None
    model: str | None = None
    virtual_key: str | None = None
    status: int | None = None
    errors_only: bool = False  # status >= 400
    min_latency_ms: float | None = None
    min_cost: float | None = None
    search: str | None = None  # a substring of the logged content
    before: tuple[float, int] | None = None  # the cursor: rows older than this (time, id)
    limit: int = 50


class Page(msgspec.Struct, frozen=True):
    data: list[Row]
    next_cursor: str | None  # pass as `cursor` for the next (older) page; null on the last


class Stats(msgspec.Struct, frozen=True):
    group: str | None  # the provider, model or virtual key name
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    p50_latency_ms: float | None
    p99_latency_ms: float | None


def parse_filters(query: MultiMapping[str], content_logged: bool) -> Filters:
    """The filters of a request's query string; a bad value is a 400 naming its parameter."""
    status = query.get("status")
    search = query.get("q") or None
    if search is not None and not content_logged:
        raise InvalidRequest("q: text search needs content logging (client.disable_content_logging is true)", param="q")
    return Filters(
        start=parse_time(query, "start"),
        end=parse_time(query, "end"),
        provider=query.get("provider") or None,
        model=query.get("model") or None,
        virtual_key=query.get("virtual_key") or None,
        status=None if status == "error" else _integer(query, "status", 100, 599),
        errors_only=status == "error",
        min_latency_ms=_number(query, "min_latency_ms", 0, None),
        min_cost=_number(query, "min_cost", 0, None),
        search=search,
        before=_cursor(query.get("cursor")),
        limit=_integer(query, "limit", 1, MAX_LIMIT) or 50,
    )


def _integer(query: MultiMapping[str], name: str, low: int, high: int | None) -> int | None:
    value = _number(query, name, low, high)
    if value is not None and not value.is_integer():
        raise InvalidRequest(f"{name}: must be a whole number", param=name)
    return None if value is None else int(value)


def _number(query: MultiMapping[str], name: str, low: float, high: float | None) -> float | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequest(f"{name}: {raw!r} is not a number", param=name) from None
    if value != value or value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise InvalidRequest(f"{name}: must be {bound}", param=name)
    return value


def parse_time(query: MultiMapping[str], name: str) -> float | None:
    """Unix seconds, or an RFC 3339 time (without a zone: UTC)."""
    raw = query.get(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name}: {raw!r} is neither Unix seconds nor an RFC 3339 time", param=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def matches(row: Row, filters: Filters) -> bool:
    """Whether a row passes the filters that a live tail applies (those of `where` but time, cursor, text)."""
    return (
        filters.provider in (None, row.provider)
        and filters.model in (None, row.model)
        and filters.virtual_key in (None, row.virtual_key)
        and filters.status in (None, row.status)
        and (not filters.errors_only or row.status >= 400)
        and (filters.min_latency_ms is None or row.latency_ms >= filters.min_latency_ms)
        and (filters.min_cost is None or (row.cost_usd or 0.0) >= filters.min_cost)
    )


def compared(filters: Filters) -> list[tuple[str, object]]:
    """The filters with a value as (column and operator, value): the part of a WHERE clause every dialect writes
    alike (the text search and the cursor are each dialect's own)."""
    found: list[tuple[str, object]] = []
    for clause, value in (
        ("time >=", filters.start),
        ("time <", filters.end),
        ("provider =", filters.provider),
        ("model =", filters.model),
        ("virtual_key =", filters.virtual_key),
        ("status =", filters.status),
        ("latency_ms >=", filters.min_latency_ms),
        ("cost_usd >=", filters.min_cost),
    ):
        if value is not None:
            found.append((clause, value))
    return found


def where(filters: Filters) -> tuple[str, list[object]]:
    """SQLite's WHERE clause for the filters (its parameters `?`)."""
    found = compared(filters)
    clauses = [f"{clause} ?" for clause, _ in found]
    params = [value for _, value in found]
    if filters.search:
        clauses.append("instr(lower(content), ?) > 0")
        params.append(filters.search.lower())
    if filters.errors_only:
        clauses.append("status >= 400")
    if filters.before is not None:
        clauses.append("(time, id) < (?, ?)")
        params.extend(filters.before)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def page_query(filters: Filters) -> tuple[str, list[object]]:
    sql, params = where(filters)
    # One row more than asked: whether it exists says if there is a next page.
    # Newest first by time (the indexes are (filter column, time): a page walks one backwards and stops), id
    # breaking ties, so a cursor of both never skips or repeats a row.
    return f"SELECT * FROM logs{sql} ORDER BY time DESC, id DESC LIMIT ?", [*params, filters.limit + 1]


def cursor_of(row: Row) -> str:
    return f"{row.time!r}_{row.id}"


def _cursor(raw: str | None) -> tuple[float, int] | None:
    if not raw:
        return None
    at, _, row_id = raw.partition("_")
    try:
        return float(at), int(row_id)
    except ValueError:
        raise InvalidRequest(f"cursor: {raw!r} is not a cursor this API gave", param="cursor") from None


async def group_stats(db: aiosqlite.Connection, filters: Filters, by: str) -> list[Stats]:
    column = GROUPS[by]
    sql, params = where(filters)
    totals = (
        f"SELECT {column}, COUNT(*), SUM(status >= 400), SUM(input_tokens), SUM(output_tokens),"
        f" COALESCE(SUM(cost_usd), 0) FROM logs{sql} GROUP BY {column} ORDER BY COUNT(*) DESC LIMIT 1000"
    )
    async with db.execute(totals, params) as cursor:
        groups = list(await cursor.fetchall())
    found = []
    for group, count, errors, tokens_in, tokens_out, cost in groups:
        p50, p99 = await _percentiles(db, sql, params, column, group, int(count))
        found.append(Stats(group, int(count), int(errors), int(tokens_in), int(tokens_out), float(cost), p50, p99))
    return found


async def _percentiles(
    db: aiosqlite.Connection, sql: str, params: list[object], column: str, group: object, count: int
) -> tuple[float | None, float | None]:
    """Nearest-rank percentiles of the group's latency, read at their offsets (SQLite has no percentile)."""
    match = f"{column} IS ?"
    clause = f"{sql} AND {match}" if sql else f" WHERE {match}"
    query = f"SELECT latency_ms FROM logs{clause} ORDER BY latency_ms LIMIT 1 OFFSET ?"
    found: list[float | None] = []
    for fraction in (0.5, 0.99):
        offset = max(0, min(count - 1, int(fraction * count + 0.999999) - 1))
        async with db.execute(query, [*params, group, offset]) as cursor:
            row = await cursor.fetchone()
        found.append(float(row[0]) if row else None)
    return found[0], found[1]
