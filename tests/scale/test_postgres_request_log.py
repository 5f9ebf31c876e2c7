"""The request log on a real PostgreSQL (`logs_store`): two `gateway serve` processes starting together migrate
the schema once and each lists the other's rows; no secret reaches a row or a log line; an unreachable database
stops the start-up with one line; several nodes purge safely; a database stopped and restarted under traffic
fails no call, and its rows are written once it is back."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest

from gateway.api import StoreConfig
from gateway.testing import ANTHROPIC_KEY, FakeUpstream, Http, MakeGateway, Reply, anthropic_body, anthropic_message
from gateway_plugins.request_log.api import LOG
from gateway_plugins.request_log.postgres import postgres_store
from gateway_plugins.request_log.query import Filters
from gateway_plugins.request_log.rows import Row
from tests.cli_helpers import cli_env, run_cli
from tests.http.async_helpers import free_port, reap, spawn_gateway, wait_healthy
from tests.pg_server import PASSWORD, PostgresServer, _binary
from tests.request_log.helpers import AUTH, VIRTUAL_KEY, VK_VALUE, logged

DAY = 86_400.0
WAIT_S = 10.0
LOGS_STORE = {"type": "postgres", "config": {"dsn": "env.PG_DSN"}}


def settings(upstream_url: str) -> dict[str, Any]:
    """The request log on (content too) in the database PG_DSN names, a virtual key, a fast writer."""
    config = logged(upstream_url) | {"logs_store": LOGS_STORE}
    config["governance"]["virtual_keys"] = [VIRTUAL_KEY]
    config["plugins"][0]["config"] = {"flush_interval_in_seconds": 0.05}
    return config


async def listed(url: str, count: int, **params: str) -> list[dict[str, Any]]:
    """The rows /api/logs lists once it lists `count` (bounded wait: rows are written off the request path)."""
    deadline = time.monotonic() + WAIT_S
    async with Http(url, None) as http:
        while True:
            answer = await http.get("/api/logs", AUTH, params={"limit": "1000", **params})
            data: list[dict[str, Any]] = answer.json()["data"] if answer.status == 200 else []
            if len(data) >= count or time.monotonic() > deadline:
                assert len(data) == count, (answer.status, len(data), count)
                return data
            await asyncio.sleep(0.05)


async def call(url: str, text: str) -> int:
    async with Http(url, key=None) as http:
        body = anthropic_body("anthropic/claude-x", text)
        return (await http.post("/anthropic/v1/messages", body, {"Authorization": f"Bearer {VK_VALUE}"})).status


async def test_two_nodes_started_together_migrate_once_and_list_each_others_rows(
    fake_upstream: FakeUpstream, pg_dsn: str, tmp_path: Path
) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("ok")))
    # An upstream error quoting the provider key: the row keeps the client's (masked) message only.
    leaky = Reply.error(400, "invalid_request_error", f"bad key {ANTHROPIC_KEY}", dialect="anthropic")
    fake_upstream.script("/v1/messages", leaky)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings(fake_upstream.url)))
    urls, logs, processes = [], [], []
    try:
        for i in range(2):  # started together: both migrate at once
            port, log = free_port(), tmp_path / f"node{i}.log"
            env = cli_env(PG_DSN=pg_dsn)
            processes.append(spawn_gateway(path, port, tmp_path / f"node{i}", log, env=env))
            urls.append(f"http://127.0.0.1:{port}")
            logs.append(log)
        await asyncio.gather(*(wait_healthy(p, u, log) for p, u, log in zip(processes, urls, logs, strict=True)))
        statuses = await asyncio.gather(*(call(urls[i % 2], f"node {i % 2} call {i}") for i in range(10)))
        assert sorted(statuses) == [200] * 9 + [400]
        on_a, on_b = await listed(urls[0], 10), await listed(urls[1], 10)
        assert {r["id"] for r in on_a} == {r["id"] for r in on_b}
        assert sum("node 1 call" in r["content"] for r in on_a) == 5  # node A lists node B's rows
        assert sum("node 0 call" in r["content"] for r in on_b) == 5
        async with Http(urls[1], None) as http:
            stats = (await http.get("/api/logs/stats", AUTH, params={"group_by": "virtual_key"})).json()["data"]
            series = (await http.get("/api/logs/series", AUTH)).json()
            ready = [(await http.get("/ready")).status]
        async with Http(urls[0], None) as http:
            ready.append((await http.get("/ready")).status)
        assert [(s["group"], s["requests"], s["errors"]) for s in stats] == [("ci-bot", 10, 1)]
        assert series["total"]["requests"] == 10 and ready == [200, 200]
        (error,) = [r["error"] for r in on_a if r["status"] == 400]
        assert error.startswith("invalid_request_error: bad key") and ANTHROPIC_KEY not in error
    finally:
        reap(processes)
    database = await asyncpg.connect(pg_dsn)
    try:
        versions = await database.fetch("SELECT version FROM gateway_schema_versions WHERE component = 'request_log'")
        stored = await database.fetchval("SELECT string_agg(r::text, ' ') FROM request_log r")
    finally:
        await database.close()
    assert [v["version"] for v in versions] == [1]
    assert "node 1 call 9" in stored  # the dump holds the rows...
    for secret in (VK_VALUE, ANTHROPIC_KEY, PASSWORD):  # ...and no secret
        assert secret not in stored
    outputs = [log.read_text() for log in logs]
    assert sum("request_log: schema migrated to version 1" in output for output in outputs) == 1
    for output in outputs:
        assert PASSWORD not in output and pg_dsn not in output


def test_an_unreachable_database_stops_the_start_up_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings("http://127.0.0.1:9")))
    dsn = f"postgresql://gateway:{PASSWORD}@127.0.0.1:{free_port()}/postgres"
    args = ("serve", "--config", str(path), "--port", str(free_port()), "--app-dir", str(tmp_path / "app"))
    done = run_cli(*args, env=cli_env(PG_DSN=dsn))
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr and PASSWORD not in done.stderr + done.stdout
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("gateway: ")]
    assert line.startswith("gateway: logs_store: PostgreSQL could not be reached"), done.stderr


def test_check_config_accepts_a_postgres_logs_store_and_still_warns_of_other_types(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    postgres = {"type": "postgres", "config": {"dsn": f"postgresql://gateway:{PASSWORD}@db.internal/logs"}}
    for store, warned in ((postgres, ""), ({"type": "mysql"}, "warning: $.logs_store.type: 'mysql' is not supported")):
        path.write_text(json.dumps({"providers": {"mock": {}}, "logs_store": store}))
        done = run_cli("check-config", str(path))
        assert done.returncode == 0 and done.stderr.startswith(warned), done
        assert ("logs_store" in done.stderr) == bool(warned) and PASSWORD not in done.stdout + done.stderr


def _row(at: float, name: str, model: str = "mock/m") -> Row:
    return Row(time=at, request_id=name, route="/v1/messages", dialect="anthropic", model=model)


async def test_nodes_purging_together_delete_each_stale_row_once(pg_dsn: str) -> None:
    config = msgspec.convert({"type": "postgres", "config": {"dsn": pg_dsn}}, StoreConfig).postgres()
    assert config is not None
    now = time.time()
    async with postgres_store(config, time.time) as a, postgres_store(config, time.time) as b:
        await a.insert([_row(now - 10 * DAY, f"stale-{i}") for i in range(500)] + [_row(now, "kept")])
        removed = await asyncio.gather(a.purge(7), b.purge(7), a.purge(7))
        assert sum(removed) == 500
        assert [r.request_id for r in (await b.page(Filters())).data] == ["kept"]


async def test_a_nul_in_a_string_is_stored_replaced_and_its_batch_kept(pg_dsn: str) -> None:
    config = msgspec.convert({"type": "postgres", "config": {"dsn": pg_dsn}}, StoreConfig).postgres()
    assert config is not None
    async with postgres_store(config, time.time) as store:  # PostgreSQL's text cannot hold a NUL; SQLite's can
        assert len(await store.insert([_row(1.0, "a", "m\x00x"), _row(2.0, "b")], ids=True) or []) == 2
        assert [r.model for r in (await store.page(Filters())).data] == ["mock/m", "m\ufffdx"]


class RestartableServer(PostgresServer):
    """The session's server cannot be stopped under other tests: this one is the test's own."""

    def halt(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)  # fast shutdown: open connections are cut
        self.process.wait(timeout=10)

    def resume(self) -> None:
        data = self.directory / "data"
        self.process = subprocess.Popen(
            [_binary("postgres"), "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1", "-k", str(self.directory),
             "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self._owner,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self._answers():
            assert self.process.poll() is None and time.monotonic() < deadline, "postgres did not restart"
            time.sleep(0.1)


@pytest.fixture
def own_postgres() -> Any:
    server = RestartableServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


async def test_a_database_stopped_and_restarted_mid_traffic_fails_no_call_and_logging_resumes(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, own_postgres: RestartableServer
) -> None:
    fake_upstream.default("/v1/messages", Reply.json(anthropic_message("ok")))
    config = settings(fake_upstream.url)
    config["logs_store"] = {"type": "postgres", "config": {"dsn": own_postgres.dsn(), "timeout_in_seconds": 2}}
    gw = await make_gateway(config)
    log = gw.app[LOG]
    assert [await call(gw.url, f"before {i}") for i in range(5)] == [200] * 5
    await listed(gw.url, 5)
    await asyncio.to_thread(own_postgres.halt)
    assert [await call(gw.url, f"during {i}") for i in range(5)] == [200] * 5  # the log's outage is not theirs
    async with Http(gw.url, None) as http:
        ready, logs = await http.get("/ready"), await http.get("/api/logs", AUTH)
    assert ready.status == 503 and "logs_store" in ready.json()["failing"], ready
    assert logs.status == 503 and "cannot be reached" in logs.json()["error"]["message"]
    await asyncio.to_thread(own_postgres.resume)
    assert [await call(gw.url, f"after {i}") for i in range(5)] == [200] * 5
    texts = [r["content"] for r in await listed(gw.url, 15)]  # the rows of the outage were kept, then written
    assert sum("during" in t for t in texts) == 5 and sum("after" in t for t in texts) == 5
    assert log.dropped == 0
    async with Http(gw.url, None) as http:
        assert (await http.get("/ready")).status == 200
