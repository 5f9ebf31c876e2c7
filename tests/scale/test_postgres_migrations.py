"""Versioned schema migrations on a real PostgreSQL: each step applied once and recorded, concurrent starters
serialized, a failed step leaves the database at its old version, a database newer than the code is refused."""

from __future__ import annotations

import asyncio

import asyncpg
import msgspec
import pytest

from gateway.config_shared import PostgresStoreConfig, StoreConfig
from gateway.stores.postgres import MigrationFailed, PostgresUnavailable, SchemaTooNew, migrate, postgres_pool
from tests.http.async_helpers import free_port
from tests.pg_server import PASSWORD

STEPS = [
    "CREATE TABLE widgets (id TEXT PRIMARY KEY)",
    "ALTER TABLE widgets ADD COLUMN size INTEGER NOT NULL DEFAULT 0",
]


def store(dsn: str) -> PostgresStoreConfig:
    config = msgspec.convert({"type": "postgres", "config": {"dsn": dsn}}, StoreConfig).postgres()
    assert config is not None
    return config


async def versions(dsn: str, component: str) -> list[int]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT version FROM gateway_schema_versions WHERE component = $1 ORDER BY version", component
        )
        return [row["version"] for row in rows]
    finally:
        await connection.close()


async def test_steps_apply_once_and_later_steps_apply_on_the_next_start(pg_dsn: str) -> None:
    async with postgres_pool(store(pg_dsn), "config_store") as pool:
        assert await migrate(pool, "widgets", STEPS[:1]) == 1
        assert await migrate(pool, "widgets", STEPS[:1]) == 1  # nothing new: CREATE TABLE would fail if rerun
        assert await migrate(pool, "widgets", STEPS) == 2
        await pool.execute("INSERT INTO widgets (id, size) VALUES ('a', 3)")
        assert await pool.fetchval("SELECT size FROM widgets") == 3
    assert await versions(pg_dsn, "widgets") == [1, 2]


async def test_components_are_versioned_apart(pg_dsn: str) -> None:
    async with postgres_pool(store(pg_dsn), "config_store") as pool:
        await migrate(pool, "widgets", STEPS)
        await migrate(pool, "gadgets", ["CREATE TABLE gadgets (id TEXT)"])
    assert await versions(pg_dsn, "widgets") == [1, 2]
    assert await versions(pg_dsn, "gadgets") == [1]


async def test_gateways_starting_together_apply_each_step_once(pg_dsn: str) -> None:
    config = store(pg_dsn)
    async with postgres_pool(config, "a") as p1, postgres_pool(config, "b") as p2, postgres_pool(config, "c") as p3:
        results = await asyncio.gather(*(migrate(pool, "widgets", STEPS) for pool in (p1, p2, p3)))
    assert results == [2, 2, 2]
    assert await versions(pg_dsn, "widgets") == [1, 2]


async def test_a_failed_step_keeps_nothing_and_names_itself(pg_dsn: str) -> None:
    async with postgres_pool(store(pg_dsn), "config_store") as pool:
        await migrate(pool, "widgets", STEPS[:1])
        with pytest.raises(MigrationFailed, match="widgets: schema step 3 failed"):
            await migrate(pool, "widgets", [*STEPS, "ALTER TABLE no_such_table ADD COLUMN x INTEGER"])
        columns = await pool.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = 'widgets'")
    assert [row["column_name"] for row in columns] == ["id"]  # step 2 was rolled back with step 3
    assert await versions(pg_dsn, "widgets") == [1]


async def test_a_database_migrated_by_a_newer_gateway_is_refused(pg_dsn: str) -> None:
    async with postgres_pool(store(pg_dsn), "config_store") as pool:
        await migrate(pool, "widgets", STEPS)
        with pytest.raises(SchemaTooNew, match="version 2, this gateway knows 1"):
            await migrate(pool, "widgets", STEPS[:1])


async def test_an_unreachable_database_names_the_store_not_the_password() -> None:
    config = store(f"postgresql://gateway:{PASSWORD}@127.0.0.1:{free_port()}/postgres")
    with pytest.raises(PostgresUnavailable) as raised:
        async with postgres_pool(config, "logs_store"):
            pass
    assert "logs_store" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_bifrost_fields_make_the_dsn_and_their_password_is_a_secret() -> None:
    config = msgspec.convert(
        {"type": "postgres", "config": {"host": "db.internal", "port": "6543", "user": "bifrost",
                                        "password": "p@ss word", "db_name": "gw", "ssl_mode": "require"}},
        StoreConfig,
    ).postgres()  # fmt: skip
    assert config is not None
    assert config.url() == "postgresql://bifrost:p%40ss%20word@db.internal:6543/gw?sslmode=require"
    assert set(config.secrets()) == {config.url(), "p%40ss%20word", "p@ss word"}


def test_a_postgres_store_with_a_bad_config_is_a_config_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="dsn: a postgresql:// URL is expected"):
        msgspec.convert({"type": "postgres", "config": {"dsn": "mysql://x"}}, StoreConfig)
    with pytest.raises(msgspec.ValidationError, match="ssl_mode"):
        msgspec.convert({"type": "postgres", "config": {"ssl_mode": "sometimes"}}, StoreConfig)
    assert msgspec.convert({"type": "sqlite", "config": {"path": "x.db"}}, StoreConfig).postgres() is None
