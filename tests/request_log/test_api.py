"""/api/logs (filters, cursor pages), /api/logs/stats, the live tail, retention, and the plugin unconfigured."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from gateway.testing import FakeUpstream, Http, MakeGateway, Reply, anthropic_body, anthropic_message, upstream_config
from gateway_plugins.request_log.api import LOG
from gateway_plugins.request_log.query import Filters
from gateway_plugins.request_log.rows import Row
from gateway_plugins.request_log.writer import RequestLog
from tests.request_log.conftest import OpenStore
from tests.request_log.helpers import AUTH, logged, logs, rows, written

UP_MESSAGES = "/v1/messages"
DAY = 86_400.0


async def _traffic(http: Http, mock: int, anthropic: int, failing: int) -> None:
    for i in range(mock):
        assert (await http.post("/anthropic/v1/messages", anthropic_body("mock/m", f"mock {i}"))).status == 200
    for i in range(anthropic):
        body = anthropic_body("anthropic/claude-sonnet-4-5", f"up {i}")
        assert (await http.post("/anthropic/v1/messages", body)).status == 200
    for _ in range(failing):
        assert (await http.post("/anthropic/v1/messages", anthropic_body("anthropic/claude-bad"))).status == 400


async def test_filters_and_cursor_pages(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    gw = await make_gateway(logged(fake_upstream.url))
    async with Http(gw.url) as http:
        await _traffic(http, mock=5, anthropic=2, failing=0)
        fake_upstream.default(UP_MESSAGES, Reply.error(400, "invalid_request_error", "nope", dialect="anthropic"))
        await _traffic(http, mock=0, anthropic=0, failing=1)
    await written(gw, 8)
    assert len(await rows(gw, provider="mock")) == 5
    assert len(await rows(gw, model="anthropic/claude-sonnet-4-5")) == 2
    assert [r["status"] for r in await rows(gw, status="error")] == [400]
    assert [r["status"] for r in await rows(gw, status=400)] == [400]
    assert len(await rows(gw, q="MOCK 3")) == 1  # case-blind substring of the content
    priced = await rows(gw, min_cost=1e-9)  # mock is free; the bundled Sonnet 4.5 price is not
    assert [r["provider"] for r in priced] == ["anthropic", "anthropic"]
    slowest = max(r["latency_ms"] for r in await rows(gw))
    assert [r["latency_ms"] for r in await rows(gw, min_latency_ms=slowest)] == [slowest]
    now = time.time()
    assert len(await rows(gw, start=now - 60, end=now + 60)) == 8
    assert await rows(gw, end=now - 60) == []
    assert len(await rows(gw, start="2000-01-01T00:00:00Z")) == 8
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(4):  # 8 rows, 3 a page: 3 pages, the last without a cursor
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await logs(gw, **params)).json()
        seen += [r["id"] for r in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 8 and seen == sorted(seen, reverse=True) and len(set(seen)) == 8


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"status": "2.5"}, "status"),
        ({"start": "soon"}, "start"),
        ({"cursor": "abc"}, "cursor"),
    ],
)
async def test_a_bad_filter_is_a_400_naming_it(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, params: dict[str, str], param: str
) -> None:
    gw = await make_gateway(logged(fake_upstream.url))
    answer = await logs(gw, **params)
    assert answer.status == 400 and answer.json()["error"]["message"].startswith(f"{param}:")


async def test_the_api_needs_the_admin_token(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    gw = await make_gateway(logged(fake_upstream.url))
    async with Http(gw.url, None) as http:
        for path in ("/api/logs", "/api/logs/stats", "/api/logs/stream"):
            assert (await http.get(path)).status == 401
            assert (await http.get(path, {"Authorization": "Bearer wrong"})).status == 401
    no_token = await make_gateway({**upstream_config(fake_upstream.url), "plugins": [{"name": "logging"}]})
    async with Http(no_token.url, None) as http:
        assert (await http.get("/api/logs", {"Authorization": "Bearer "})).status == 401


async def test_stats_per_provider_with_percentiles(make_gateway: MakeGateway, fake_upstream: FakeUpstream) -> None:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    gw = await make_gateway(logged(fake_upstream.url))
    async with Http(gw.url) as http:
        await _traffic(http, mock=4, anthropic=2, failing=0)
    await written(gw, 6)
    async with Http(gw.url, None) as http:
        stats = (await http.get("/api/logs/stats", AUTH, params={"group_by": "provider"})).json()
        bad = await http.get("/api/logs/stats", AUTH, params={"group_by": "status"})
    by = {s["group"]: s for s in stats["data"]}
    assert (by["mock"]["requests"], by["anthropic"]["requests"], by["mock"]["errors"]) == (4, 2, 0)
    assert 0 < by["mock"]["p50_latency_ms"] <= by["mock"]["p99_latency_ms"]
    assert by["anthropic"]["input_tokens"] > 0
    assert bad.status == 400


async def test_the_live_tail_sends_each_row_as_it_is_written(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(logged(fake_upstream.url))
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    url = gw.url + "/api/logs/stream?provider=mock"
    async with aiohttp.ClientSession() as session, session.get(url, headers=AUTH) as tail:
        assert tail.headers["Content-Type"].startswith("text/event-stream")
        assert await asyncio.wait_for(tail.content.readline(), 5) == b": tailing\n"
        async with Http(gw.url) as http:  # the first is filtered out: the frame read is the mock call's
            assert (await http.post("/anthropic/v1/messages", anthropic_body("anthropic/claude-x"))).status == 200
            assert (await http.post("/anthropic/v1/messages", anthropic_body("mock/m"))).status == 200
        line = b""
        for _ in range(5):  # blank lines between frames
            line = await asyncio.wait_for(tail.content.readline(), 5)
            if line.startswith(b"data: "):
                break
    row = json.loads(line.removeprefix(b"data: "))
    assert row["provider"] == "mock" and row["id"] >= 1


def _row(at: float, request_id: str) -> Row:
    return Row(time=at, request_id=request_id, route="/v1/messages", dialect="anthropic", model="mock/m")


async def test_retention_purges_rows_older_than_the_configured_days(tmp_path: Path, open_store: OpenStore) -> None:
    now = 1_800_000_000.0
    async with open_store(tmp_path) as store:
        store.clock = lambda: now
        await store.insert([_row(now - 31 * DAY, "old"), _row(now - 29 * DAY, "recent"), _row(now, "new")])
        assert await store.purge(retention_days=30) == 1
        assert [r.request_id for r in (await store.page(Filters())).data] == ["new", "recent"]


async def test_a_starting_gateway_purges_what_is_past_retention(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path, open_store: OpenStore
) -> None:
    app_dir = tmp_path / "app"
    async with open_store(app_dir) as store:
        await store.insert([_row(time.time() - 10 * DAY, "stale"), _row(time.time() - DAY, "kept")])
    gw = await make_gateway(logged(fake_upstream.url, log_retention_days=7), app_dir=app_dir)
    for _ in range(200):  # the purge runs in the background at start: bounded wait
        if [r["request_id"] for r in await rows(gw)] == ["kept"]:
            break
        await asyncio.sleep(0.01)
    assert [r["request_id"] for r in await rows(gw)] == ["kept"]


async def test_a_full_queue_drops_and_counts_rows_instead_of_waiting(tmp_path: Path, open_store: OpenStore) -> None:
    async with open_store(tmp_path) as store:
        log = RequestLog(store, queue_size=2, batch_size=10)
        for i in range(5):
            log.add(_row(time.time(), f"r{i}"))
        assert log.dropped == 3
        await log.flush()
        assert log.written == 2


async def test_unconfigured_the_plugin_adds_no_route_and_no_hook(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream
) -> None:
    gw = await make_gateway(upstream_config(fake_upstream.url))
    async with Http(gw.url, None) as http:
        assert (await http.get("/api/logs", AUTH)).status == 404
    assert LOG not in gw.app
