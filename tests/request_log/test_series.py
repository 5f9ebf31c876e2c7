"""/api/logs/series (sums and percentiles per time bucket), the overhead_ms column, and a logs.db of the first
schema gaining that column at open."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.testing import FakeUpstream, Gateway, Http, MakeGateway, Reply, anthropic_body, anthropic_message
from gateway_plugins.request_log.api import LOG
from gateway_plugins.request_log.query import Filters
from gateway_plugins.request_log.rows import Row
from gateway_plugins.request_log.series import Span
from gateway_plugins.request_log.store import SqliteLogStore
from tests.request_log.helpers import AUTH, logged, rows, written

T0 = 1_800_000_000.0  # a bucket boundary for the rows placed by hand


def _row(at: float, latency: float, *, status: int = 200, overhead: float | None = None, cost: float = 0.0) -> Row:
    return Row(
        time=at, request_id=f"r{at}", route="/v1/messages", dialect="anthropic", model="mock/m", provider="mock",
        status=status, latency_ms=latency, overhead_ms=overhead, cost_usd=cost, input_tokens=10, output_tokens=2,
    )  # fmt: skip


async def _series(gw: Gateway, **params: Any) -> tuple[int, Any]:
    async with Http(gw.url, None) as http:
        answer = await http.get("/api/logs/series", AUTH, params={k: str(v) for k, v in params.items()})
    return answer.status, answer.json()


async def test_each_bucket_has_its_counts_sums_and_nearest_rank_percentiles(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(logged(fake_upstream.url))
    first = [_row(T0 + i, latency=float(i + 1), overhead=0.1 * (i + 1), cost=0.01) for i in range(10)]
    second = [_row(T0 + 120, 7.0, status=502), _row(T0 + 121, 3.0)]  # the bucket between them is empty
    await gw.app[LOG].store.insert([*first, *second, _row(T0 + 180, 1.0)])  # the last one: past `until`
    status, body = await _series(gw, since=T0, until=T0 + 180, bucket=60)
    assert status == 200 and body["bucket"] == 60 and len(body["data"]) == 3
    a, empty, b = body["data"]
    assert (a["start"], a["requests"], a["errors"]) == (T0, 10, 0)
    assert (a["p50_latency_ms"], a["p99_latency_ms"]) == (5.0, 10.0)  # ranks ceil(5) and ceil(9.9) of 1..10
    assert a["p50_overhead_ms"] == pytest.approx(0.5)
    assert a["cost_usd"] == pytest.approx(0.1) and (a["input_tokens"], a["output_tokens"]) == (100, 20)
    assert empty == {
        "start": T0 + 60, "requests": 0, "errors": 0, "p50_latency_ms": None, "p99_latency_ms": None,
        "p50_overhead_ms": None, "cost_usd": 0.0, "input_tokens": 0, "output_tokens": 0,
    }  # fmt: skip
    assert (b["requests"], b["errors"], b["p50_latency_ms"], b["p99_latency_ms"]) == (2, 1, 3.0, 7.0)
    assert b["p50_overhead_ms"] is None  # rows without an overhead (an error, an old row) are left out
    total = body["total"]  # the whole range as one bucket
    assert (total["start"], total["requests"], total["errors"], total["p99_latency_ms"]) == (T0, 12, 1, 10.0)
    assert total["cost_usd"] == pytest.approx(0.1) and total["p50_overhead_ms"] == pytest.approx(0.5)
    status, body = await _series(gw, since=T0, until=T0 + 180, bucket=60, provider="openai")
    assert status == 200 and sum(bucket["requests"] for bucket in body["data"]) == 0


async def test_live_traffic_lands_in_the_default_last_hour(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("ok")))
    gw = await make_gateway(logged(fake_upstream.url))
    async with Http(gw.url) as http:
        for i in range(3):
            assert (
                await http.post("/anthropic/v1/messages", anthropic_body("anthropic/claude-x", f"q{i}"))
            ).status == 200
    await written(gw, 3)
    status, body = await _series(gw)
    assert status == 200 and len(body["data"]) == 60 and body["until"] - body["since"] == 3600
    assert sum(bucket["requests"] for bucket in body["data"]) == 3
    logged_rows = await rows(gw)
    for row in logged_rows:  # the time in the gateway itself: the latency less the wait on the fake upstream
        assert 0 <= row["overhead_ms"] <= row["latency_ms"]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"since": T0, "until": T0 + 86_400, "bucket": 60}, "bucket"),  # 1,440 buckets
        ({"bucket": "0"}, "bucket"),
        ({"bucket": "nan"}, "bucket"),
        ({"bucket": "soon"}, "bucket"),
        ({"since": T0 + 10, "until": T0}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": T0, "until": T0 + 60, "status": "x"}, "status"),
    ],
)
async def test_a_bad_or_too_fine_range_is_a_400_naming_its_parameter(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, params: dict[str, Any], param: str
) -> None:
    gw = await make_gateway(logged(fake_upstream.url))
    status, body = await _series(gw, **params)
    assert status == 400 and body["error"]["message"].startswith(f"{param}:"), body


async def test_the_series_needs_the_admin_token(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(logged(fake_upstream.url))
    async with Http(gw.url, None) as http:
        assert (await http.get("/api/logs/series")).status == 401
        assert (await http.get("/api/logs/series", {"Authorization": "Bearer wrong"})).status == 401


FIRST_SCHEMA = """
CREATE TABLE logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL, request_id TEXT NOT NULL, route TEXT NOT NULL, dialect TEXT NOT NULL,
    stream INTEGER NOT NULL, virtual_key TEXT, team TEXT, model TEXT NOT NULL, provider TEXT,
    upstream_model TEXT, fallback_trail TEXT NOT NULL, fallback_index INTEGER NOT NULL, attempts INTEGER NOT NULL,
    status INTEGER NOT NULL, error TEXT, latency_ms REAL NOT NULL, ttft_ms REAL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL, cost_usd REAL, cache_hit INTEGER NOT NULL, job_id TEXT, content TEXT
);
INSERT INTO logs VALUES (1, 1800000000.0, 'old', '/v1/messages', 'anthropic', 0, NULL, NULL, 'mock/m', 'mock',
    'm', '["mock/m"]', 0, 1, 200, NULL, 12.5, NULL, 3, 4, 0, 0, 0.0, 0, NULL, NULL);
"""


async def test_a_logs_db_of_the_first_schema_gains_the_overhead_column(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    with sqlite3.connect(path) as db:
        db.executescript(FIRST_SCHEMA)
    db.close()
    store = await SqliteLogStore.open(path, clock=time.time)
    try:
        await store.insert([_row(T0 + 1, 2.0, overhead=0.25)])
        found = (await store.page(Filters())).data
        assert [(r.request_id, r.overhead_ms) for r in found] == [(f"r{T0 + 1}", 0.25), ("old", None)]
    finally:
        await store.close()
    reopened = await SqliteLogStore.open(path, clock=time.time)  # a second open finds the column and adds nothing
    await reopened.close()


async def test_a_range_of_many_rows_ranks_a_sample_for_its_percentiles_and_counts_every_row(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(logged(fake_upstream.url))
    store = gw.app[LOG].store
    await store.insert([_row(T0 + i * 0.01, latency=float(i + 1), cost=0.001) for i in range(1000)])
    span = Span(T0, T0 + 60, 60)
    exact, sampled = (await store.series(span, Filters()))[0], (await store.series(span, Filters(), sample=100))[0]
    assert (exact.p50_latency_ms, exact.p99_latency_ms) == (500.0, 990.0)
    assert sampled.requests == exact.requests == 1000 and sampled.cost_usd == pytest.approx(exact.cost_usd)
    assert sampled.p50_latency_ms is not None and sampled.p99_latency_ms is not None
    assert abs(sampled.p50_latency_ms - 500) <= 10 and abs(sampled.p99_latency_ms - 990) <= 10
    assert sampled.p50_latency_ms % 10 == 0  # every 10th row only
