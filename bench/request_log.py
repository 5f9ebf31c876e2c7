"""What the request log (plugin `logging`) costs, in one run.

Run from the repository root::

    .venv/bin/python -m bench.request_log --uvloop --repeat 3          # the hot path: logging on vs off
    .venv/bin/python -m bench.request_log --store --rows 1000000        # write throughput and query p50
    .venv/bin/python -m bench.request_log --store --postgres --rows 200000   # the same on SQLite and PostgreSQL

The hot path: two gateways in front of the same fake upstream (0 ms), Anthropic JSON at concurrency 1, one with
`plugins: [{"name": "logging"}]` and content logging off, one without; p50 and `cpu us/req` of each.

The store: `--rows` rows put through the plugin's own writer (`RequestLog.add`, batches of the default size) into a
fresh logs.db (rows/s, from the first add to the last commit), then `/api/logs` asked over HTTP by a gateway that
opens that file, each filter `--queries` times (p50 ms per filter). With `--postgres`, the same again with
`logs_store` on PostgreSQL: the database `--pg-dsn` names (its request_log table is emptied first), or by default a
throwaway cluster of the tests' (tests/pg_server.py: on this machine, fsync off) on a free port; the table is
analyzed after the load, as autovacuum soon would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from bench.pairs import c1_pair, options, report
from bench.scenarios import gateway_config
from bench.structured_output import body
from gateway.api import StoreConfig
from gateway.testing import Http, serve_gateway
from gateway_plugins.request_log.config import LoggingConfig
from gateway_plugins.request_log.rows import Row
from gateway_plugins.request_log.store import LogStore, SqliteLogStore
from gateway_plugins.request_log.writer import RequestLog

ADMIN = "bench-admin-token"
PROVIDERS = ("anthropic", "openai", "gemini", "bedrock")
MODELS = ("claude-sonnet-4-5", "gpt-5", "gemini-2.5-pro", "claude-haiku-4-5", "gpt-5-mini")
KEYS = tuple(f"team-{i}" for i in range(20))
FILTERS: dict[str, dict[str, str]] = {
    "newest page (no filter)": {},
    "provider": {"provider": "gemini"},
    "virtual key + provider": {"virtual_key": "team-7", "provider": "openai"},
    "errors": {"status": "error"},
    "min latency 2900 ms": {"min_latency_ms": "2900"},
    "last hour": {"start": "{hour_ago}"},
    "page 20 (cursor)": {"cursor": "{cursor}"},
}


def with_logging(upstream_origin: str) -> dict[str, Any]:
    config = gateway_config(upstream_origin)
    config["plugins"] = [*config.get("plugins", []), {"name": "logging"}]
    config.setdefault("client", {})["disable_content_logging"] = True
    return config


def hot_path(args: argparse.Namespace) -> None:
    cells = c1_pair(args, gateway_config, with_logging, body(False))
    added, cpu = report("anthropic_json c1", cells, ("no request log", "request log (content off)"))
    print(f"the request log adds {added:.0f} us to the p50, {cpu:.0f} us of CPU")


def _row(rng: random.Random, at: float) -> Row:
    provider = rng.choice(PROVIDERS)
    status = 200 if rng.random() > 0.03 else rng.choice((400, 429, 500, 503))
    return Row(
        time=at,
        request_id=f"req_{rng.getrandbits(64):016x}",
        route="/v1/chat/completions",
        dialect="openai",
        virtual_key=rng.choice(KEYS),
        model=f"{provider}/{rng.choice(MODELS)}",
        provider=provider,
        upstream_model=rng.choice(MODELS),
        fallback_trail=[f"{provider}/m"],
        status=status,
        error=None if status == 200 else "api_error: upstream failed",
        latency_ms=rng.uniform(50, 3000),
        input_tokens=rng.randint(10, 5000),
        output_tokens=rng.randint(1, 2000),
        cost_usd=rng.uniform(0, 0.05),
    )


async def fill(store: LogStore, rows: int) -> float:
    """Rows through the plugin's writer; answer rows/s."""
    rng = random.Random(14)
    config = LoggingConfig()
    log = RequestLog(store, config.queue_size, config.batch_size, config.flush_interval_in_seconds)
    writer = asyncio.create_task(log.run())
    start = time.perf_counter()
    now = time.time()
    try:
        for i in range(rows):
            if log.backlog >= config.queue_size:  # every row is to be written: wait for room, not drop
                await log.idle()
            log.add(_row(rng, now - (rows - i) * 0.05))
        await log.idle()
        elapsed = time.perf_counter() - start
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    assert log.written == rows, f"{log.written} of {rows} rows written"
    return rows / elapsed


async def query(app_dir: Path, queries: int, logs_store: dict[str, Any] | None) -> dict[str, float]:
    config: dict[str, Any] = {
        "providers": {"mock": {}},
        "plugins": [{"name": "logging", "config": {}}],
        "governance": {"auth_config": {"admin_token": ADMIN}},
    }
    if logs_store is not None:
        config["logs_store"] = logs_store
    p50s = {}
    async with serve_gateway(config, app_dir=app_dir) as gw, Http(gw.url, None) as http:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        cursor = ""
        for _ in range(20):
            cursor = (await http.get("/api/logs", auth, params={"cursor": cursor} if cursor else None)).json()[
                "next_cursor"
            ]
        values = {"hour_ago": str(time.time() - 3600), "cursor": cursor}
        for name, params in FILTERS.items():
            filled = {k: v.format(**values) for k, v in params.items()}
            times = []
            for _ in range(queries):
                start = time.perf_counter()
                answer = await http.get("/api/logs", auth, params=filled)
                times.append((time.perf_counter() - start) * 1000)
                assert answer.status == 200, answer
            p50s[name] = statistics.median(times)
        start = time.perf_counter()
        assert (await http.get("/api/logs/stats", auth, params={"start": values["hour_ago"]})).status == 200
        p50s["stats per provider, last hour (once)"] = (time.perf_counter() - start) * 1000
        for name, hours, bucket in (("last hour", 1, 60), ("last 24 h", 24, 900)):  # the dashboard's overview
            start = time.perf_counter()
            params = {"since": str(time.time() - hours * 3600), "bucket": str(bucket)}
            assert (await http.get("/api/logs/series", auth, params=params)).status == 200
            p50s[f"series, {name} (once)"] = (time.perf_counter() - start) * 1000
    return p50s


async def store_bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-logs-") as tmp:
        app_dir = Path(tmp)
        store = await SqliteLogStore.open(app_dir / "logs.db", clock=time.time)
        try:
            rate = await fill(store, args.rows)
        finally:
            await store.close()
        size = sum(p.stat().st_size for p in await asyncio.to_thread(lambda: list(app_dir.glob("logs.db*"))))
        print(f"sqlite write: {args.rows} rows at {rate:,.0f} rows/s ({size / 1e6:.0f} MB)")
        for name, p50 in (await query(app_dir, args.queries, None)).items():
            print(f"sqlite /api/logs {name:<40} p50 {p50:8.2f} ms")
    if args.postgres or args.pg_dsn:
        await postgres_bench(args)


async def postgres_bench(args: argparse.Namespace) -> None:
    from gateway_plugins.request_log.postgres import TABLE, postgres_store

    with _database(args.pg_dsn) as dsn, tempfile.TemporaryDirectory(prefix="bench-logs-") as tmp:
        logs_store = {"type": "postgres", "config": {"dsn": dsn}}
        config = msgspec.convert(logs_store, StoreConfig).postgres()
        assert config is not None
        async with postgres_store(config, clock=time.time) as store:
            await _sql(dsn, f"TRUNCATE {TABLE}")  # a database given by --pg-dsn may hold an earlier run's rows
            rate = await fill(store, args.rows)
        # Autovacuum analyzes a table this size within a minute of the load; before it, the planner has no
        # statistics and pages filtered by two columns take a bitmap AND and a sort (~10 ms, not ~1).
        await _sql(dsn, f"ANALYZE {TABLE}")
        print(f"postgres write: {args.rows} rows at {rate:,.0f} rows/s")
        for name, p50 in (await query(Path(tmp), args.queries, logs_store)).items():
            print(f"postgres /api/logs {name:<40} p50 {p50:8.2f} ms")


@contextlib.contextmanager
def _database(dsn: str | None) -> Iterator[str]:
    """The DSN given, or a throwaway cluster's (the tests' own PostgreSQL, on a free port)."""
    if dsn:
        yield dsn
        return
    import tests.conftest  # noqa: F401  (first: tests.pg_server's imports go through it)
    from tests.pg_server import PostgresServer

    server = PostgresServer()
    try:
        server.start()
        yield server.dsn()
    finally:
        server.stop()


async def _sql(dsn: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store", action="store_true")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="the store on PostgreSQL too (a throwaway cluster)")
    parser.add_argument("--pg-dsn", help="the PostgreSQL database to use instead of a throwaway cluster")
    known, rest = parser.parse_known_args(argv)
    if known.store:
        asyncio.run(store_bench(known))
    else:
        hot_path(options(__doc__, rest))


if __name__ == "__main__":
    main()
