"""Governance's config store on a real PostgreSQL, with real `python -m gateway serve` processes (each its own app
dir): a virtual key created through one gateway's admin API is stored hashed and known to a gateway started
afterwards on the database; creates and updates are atomic across gateways; two gateways starting together on an
empty database both come up, the schema migrated once; an unreachable database or a failed migration stops the
start with one clear line; `/ready` names the config store while PostgreSQL is stopped; the DSN's password and the
keys' values are in no log, answer or row; saved usage keeps a window's largest count (several gateways' views)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import msgspec
import pytest

from gateway.api import REDACTOR, PostgresStoreConfig
from gateway.stores.postgres import VERSIONS_TABLE
from gateway.testing import Answer, FakeUpstream, Http, Reply, anthropic_message, serve_gateway
from gateway_plugins.governance.pg_store import PostgresGovernanceStore
from gateway_plugins.governance.store import GovernanceStore, SqliteGovernanceStore
from tests.cli_helpers import cli_env, run_cli
from tests.http.async_helpers import free_port, reap, spawn_gateway, wait_healthy
from tests.http.governance_helpers import UP_MESSAGES, VK_A, admin, budget, config, messages, providers, vk
from tests.pg_server import PASSWORD, PostgresServer

from .nodes import Node

STOP_TIMEOUT_S = 15.0


def pg_config(upstream_url: str, *keys: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The governance test config with its config store on PostgreSQL, the DSN read from PG_DSN (so its password
    is in no file)."""
    store = {"type": "postgres", "config": {"dsn": "env.PG_DSN"}}
    return {**config(upstream_url, *keys, **fields), "config_store": store}


@pytest.fixture
def upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("ok")))
    return fake_upstream


def start(directory: Path, name: str, settings: dict[str, Any], dsn: str) -> Node:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(settings))
    port, log = free_port(), directory / f"{name}.log"
    process = spawn_gateway(path, port, directory / name, log, env=cli_env(PG_DSN=dsn))
    return Node(f"http://127.0.0.1:{port}", log, process)


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[list[Node]]:
    """The nodes a test starts (append them); SIGKILLed at the end if still running."""
    nodes: list[Node] = []
    try:
        yield nodes
    finally:
        reap([node.process for node in nodes])


async def stop(node: Node) -> str:
    """SIGTERM, the exit awaited; the node's log, which must hold no traceback."""
    node.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(node.process.wait, STOP_TIMEOUT_S) == 0, node.output()
    text = node.output()
    assert "Traceback" not in text, text
    return text


async def rows(dsn: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


async def call_admin(node: Node, method: str, path: str, body: Any = None) -> Answer:
    async with Http(node.url, key=None) as http:
        return await admin(http, method, path, body)


async def test_a_key_created_on_one_gateway_is_stored_hashed_and_known_to_the_next(
    tmp_path: Path, pg_dsn: str, upstream: FakeUpstream, started: list[Node]
) -> None:
    settings = pg_config(upstream.url, vk("vk-a", VK_A))
    started.append(a := start(tmp_path, "a", settings, pg_dsn))
    await wait_healthy(a.process, a.url, a.log)
    created = await call_admin(a, "POST", "/virtual-keys", {"name": "ci", "provider_configs": providers("anthropic")})
    assert created.status == 201, created
    value, key_id = created.json()["value"], created.json()["id"]
    assert (await call_admin(a, "POST", "/teams", {"id": "t-1"})).status == 201

    started.append(b := start(tmp_path, "b", settings, pg_dsn))
    await wait_healthy(b.process, b.url, b.log)
    async with Http(b.url, key=None) as http:
        assert (await messages(http, value)).status == 200  # B knows A's key from the database
        assert (await messages(http, VK_A)).status == 200
        listed = (await admin(http, "GET", "/virtual-keys")).json()["data"]
        assert {e["id"] for e in listed} == {"vk-a", key_id}
    answers = [
        await call_admin(b, "POST", "/teams", {"id": "t-1"}),  # B's create finds A's id taken: nothing written
        await call_admin(a, "DELETE", "/teams/t-1"),
        await call_admin(b, "PUT", "/teams/t-1", {"name": "back"}),  # A deleted it: B's update resurrects nothing
        await call_admin(b, "GET", "/teams/t-1"),  # and B forgot it
    ]
    assert [answer.status for answer in answers] == [400, 204, 404, 404], answers
    assert "exists already" in answers[0].body.decode()

    stored = "\n".join(
        str(tuple(row))
        for row in await rows(pg_dsn, "SELECT kind, id, source, value_hash, body FROM governance_entries")
    )
    for secret in (value, VK_A):
        assert secret not in stored
        assert hashlib.sha256(secret.encode()).hexdigest() in stored
    logs = await stop(a) + await stop(b)
    for secret in (PASSWORD, pg_dsn, value, VK_A):
        assert secret not in logs
        assert all(secret.encode() not in answer.body for answer in answers)
    assert PASSWORD.encode() not in created.body  # which shows the new key's value, once
    assert "each counts budgets and rate limits on its own" in logs  # no `redis` section: said at start-up


async def test_gateways_starting_together_on_an_empty_database_migrate_it_once(
    tmp_path: Path, pg_dsn: str, upstream: FakeUpstream, started: list[Node]
) -> None:
    settings = pg_config(upstream.url, vk("vk-a", VK_A), teams=[{"id": "t-1"}])
    started += [start(tmp_path, name, settings, pg_dsn) for name in ("a", "b", "c")]
    await asyncio.gather(*(wait_healthy(node.process, node.url, node.log) for node in started))
    for node in started:
        async with Http(node.url, key=None) as http:
            assert (await messages(http, VK_A)).status == 200
    versions = await rows(pg_dsn, "SELECT version FROM gateway_schema_versions WHERE component = 'governance'")
    assert [row["version"] for row in versions] == [1]
    entries = await rows(pg_dsn, "SELECT kind, id, source FROM governance_entries ORDER BY kind, id")
    assert [tuple(row) for row in entries] == [("team", "t-1", "config"), ("virtual_key", "vk-a", "config")]
    for node in started:
        await stop(node)


def serve_briefly(tmp_path: Path, settings: dict[str, Any], dsn: str) -> subprocess.CompletedProcess[str]:
    """`gateway serve` on a config whose start-up must fail: its exit and output."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings))
    command = ["serve", "--config", str(path), "--port", str(free_port()), "--app-dir", str(tmp_path / "app")]
    return run_cli(*command, env=cli_env(PG_DSN=dsn))


def assert_one_clear_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr + result.stdout, result
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("gateway: governance: ") and expected in lines[-1], lines


def test_an_unreachable_database_stops_the_start_with_one_clear_line(tmp_path: Path) -> None:
    dsn = f"postgresql://gateway:{PASSWORD}@127.0.0.1:{free_port()}/postgres"
    result = serve_briefly(tmp_path, pg_config("http://127.0.0.1:9"), dsn)
    assert_one_clear_line(result, "config_store: PostgreSQL could not be reached")


async def test_a_failed_or_too_new_migration_stops_the_start_with_one_clear_line(tmp_path: Path, pg_dsn: str) -> None:
    connection = await asyncpg.connect(pg_dsn)
    try:
        await connection.execute("CREATE TABLE governance_entries (x INTEGER)")  # in the way of step 1
        failed = await asyncio.to_thread(serve_briefly, tmp_path, pg_config("http://127.0.0.1:9"), pg_dsn)
        assert_one_clear_line(failed, "governance: schema step 1 failed")
        await connection.execute(f"DROP TABLE governance_entries; {VERSIONS_TABLE}")
        await connection.execute("INSERT INTO gateway_schema_versions (component, version) VALUES ('governance', 99)")
        newer = await asyncio.to_thread(serve_briefly, tmp_path, pg_config("http://127.0.0.1:9"), pg_dsn)
        assert_one_clear_line(newer, "the database is at schema version 99")
    finally:
        await connection.close()


async def test_ready_names_the_config_store_while_postgres_is_stopped(
    tmp_path: Path, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = PostgresServer()  # its own: the session's server must keep running
    settings = pg_config(upstream.url, vk("vk-a", VK_A, budgets=[budget(1.0)]))
    try:
        await asyncio.to_thread(server.start)
        monkeypatch.setenv("PG_DSN", server.dsn())
        async with serve_gateway(settings, app_dir=tmp_path / "app") as gw, gw.http(None) as http:
            ready = await http.get("/ready")
            assert ready.status == 200, ready
            await asyncio.to_thread(server.stop)
            not_ready = await http.get("/ready")
            created = await admin(http, "POST", "/teams", {"id": "t-1"})
            called = await messages(http, VK_A)  # governed from memory; its usage cannot be saved
            await asyncio.sleep(1.2)  # two flushes
    finally:
        await asyncio.to_thread(server.stop)
    assert not_ready.status == 503, not_ready
    assert not_ready.json()["failing"] == {"config_store": "PostgreSQL (config_store) does not answer"}
    assert created.status == 503 and b"config store (PostgreSQL) cannot be reached" in created.body, created
    assert called.status == 200, called
    for answer in (ready, not_ready, created):
        assert PASSWORD.encode() not in answer.body
    unsaved = [r for r in caplog.records if "governance usage" in r.getMessage()]
    assert [r.getMessage().split(":")[0] for r in unsaved] == [
        "could not save governance usage",  # once for the outage, not at every flush
        "governance usage not saved at shutdown",
    ], unsaved
    assert not any(r.exc_info for r in caplog.records)  # a line each, no traceback
    assert PASSWORD not in caplog.text


async def saved_usage_keeps_the_largest_count_of_a_window(store: GovernanceStore) -> None:
    """Gateways saving their views of one meter: within a window the largest stays, a newer window replaces it."""
    try:
        await store.save_usage([("budget:vk:a:0", 100.0, 5.0, 0.0), ("requests:vk:a", 100.0, 2.0, 0.0)])
        await store.save_usage([("budget:vk:a:0", 100.0, 3.0, 0.0)])  # an older view, saved late
        assert sorted(await store.usage()) == [("budget:vk:a:0", 100.0, 5.0, 0.0), ("requests:vk:a", 100.0, 2.0, 0.0)]
        await store.save_usage([("budget:vk:a:0", 200.0, 1.0, 0.0), ("requests:vk:a", 100.0, 7.0, 0.0)])
        await store.save_usage([("budget:vk:a:0", 100.0, 9.0, 0.0)])  # the window before: stale
        assert sorted(await store.usage()) == [("budget:vk:a:0", 200.0, 1.0, 0.0), ("requests:vk:a", 100.0, 7.0, 0.0)]
    finally:
        await store.close()


async def test_saved_usage_keeps_the_largest_count_of_a_window_in_postgres(pg_dsn: str) -> None:
    config = msgspec.convert({"dsn": pg_dsn}, PostgresStoreConfig)
    await saved_usage_keeps_the_largest_count_of_a_window(await PostgresGovernanceStore.open(config))


async def test_saved_usage_keeps_the_largest_count_of_a_window_in_sqlite(tmp_path: Path) -> None:
    await saved_usage_keeps_the_largest_count_of_a_window(await SqliteGovernanceStore.open(tmp_path / "config.db"))


async def test_bifrost_fields_reach_the_database_and_the_password_stays_secret(
    tmp_path: Path, pg_dsn: str, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = urlsplit(pg_dsn)
    monkeypatch.setenv("PG_PASSWORD", PASSWORD)
    fields = {"host": "127.0.0.1", "port": str(where.port), "user": where.username, "password": "env.PG_PASSWORD",
              "db_name": where.path.lstrip("/"), "ssl_mode": "disable"}  # fmt: skip
    settings = {**config(upstream.url), "config_store": {"type": "postgres", "config": fields}}
    async with serve_gateway(settings, app_dir=tmp_path / "app") as gw, gw.http(None) as http:
        created = await admin(http, "POST", "/teams", {"id": "t-1"})
        masked = gw.app[REDACTOR].text(f"could not connect as {where.username}:{PASSWORD}")  # an error, a log line
    assert created.status == 201, created
    assert PASSWORD not in masked and "could not connect as" in masked
    assert [tuple(row) for row in await rows(pg_dsn, "SELECT kind, id FROM governance_entries")] == [("team", "t-1")]
