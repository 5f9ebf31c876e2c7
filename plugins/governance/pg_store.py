"""Governance's store in PostgreSQL (`config_store` of type postgres), shared by every gateway pointed at the
database, and `open_store`, which opens the store the config names (SQLite in the app dir by default).

The schema is versioned (`migrate(pool, "governance", STEPS)`: created or migrated at start-up, once however many
gateways start together). Start-up reconciliation of the config file runs in one transaction under an advisory
lock of its own, so gateways starting together apply it one after the other, each finding the others' rows (every
node must have the same `governance` section). Admin-API writes are single statements: a create that finds its id
taken writes nothing, an update of an entry another node deleted finds no row, neither resurrects nor overwrites.
A virtual key is stored as its hash only, like in SQLite.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from gateway import Overloaded
from gateway.api import (
    APP_DIR,
    SETTINGS,
    MigrationFailed,
    NotReady,
    PostgresStoreConfig,
    PostgresUnavailable,
    SchemaTooNew,
    StartupError,
    StoreConfig,
    add_readiness_check,
    migrate,
    postgres_pool,
)

from .store import (
    CREATE,
    SAVE_USAGE,
    UPDATE,
    UPSERT,
    ConfigEntry,
    Entry,
    GovernanceStore,
    Kind,
    SqliteGovernanceStore,
    StoredEntry,
    UsageRow,
    body,
    stored,
)

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("gateway.governance")
DB_FILE = "config.db"
STORE_NAME = "config_store"  # how errors and /ready name it (Bifrost's name for governance's store)
STEPS = [  # append-only: a released step is never edited (see gateway.stores.postgres.migrate)
    """
    CREATE TABLE governance_entries (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        source TEXT NOT NULL,
        value_hash TEXT,
        body TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (kind, id)
    );
    CREATE UNIQUE INDEX governance_entries_hash ON governance_entries (value_hash) WHERE value_hash IS NOT NULL;
    CREATE TABLE governance_usage (
        meter TEXT PRIMARY KEY,
        window_start DOUBLE PRECISION NOT NULL,
        used DOUBLE PRECISION NOT NULL,
        anchor DOUBLE PRECISION NOT NULL
    );
    """,
]
ENTRY_COLUMNS = "kind, body, source, value_hash, created_at"
RECONCILE_LOCK = zlib.crc32(b"gateway-governance:reconcile")  # stable across processes, unlike hash()


async def open_store(app: web.Application) -> GovernanceStore:
    """The store `config_store` names; a database that cannot be used stops the start with one clear line."""
    config = app[SETTINGS].config_store
    postgres = config.postgres() if config is not None else None
    if postgres is None:
        return await SqliteGovernanceStore.open(sqlite_path(app[APP_DIR], config))
    try:
        store = await PostgresGovernanceStore.open(postgres)
    except (PostgresUnavailable, MigrationFailed, SchemaTooNew) as error:
        raise StartupError(f"governance: {error}") from None
    add_readiness_check(app, STORE_NAME, store.ping, timeout_s=postgres.timeout_in_seconds)
    if app[SETTINGS].redis is None:
        log.warning(
            "config_store is PostgreSQL but there is no `redis` section: gateways sharing this database share keys,"
            " teams and customers, but each counts budgets and rate limits on its own (the usage saved is the largest"
            " count, not the sum); add `redis` to count them once for all"
        )
    return store


def sqlite_path(app_dir: Path, config: StoreConfig | None) -> Path:
    """`<app-dir>/config.db`, or Bifrost's `config_store.config.path` (relative to the app dir, or absolute)."""
    path = config.config.get("path") if config is not None and config.enabled and config.type == "sqlite" else None
    return app_dir / (path or DB_FILE)  # an absolute path replaces the app dir


class PostgresGovernanceStore:
    def __init__(self, pool: asyncpg.Pool, closing: contextlib.AsyncExitStack) -> None:
        self._pool = pool
        self._closing = closing

    @classmethod
    async def open(cls, config: PostgresStoreConfig) -> PostgresGovernanceStore:
        """Connect and migrate; raises PostgresUnavailable, MigrationFailed or SchemaTooNew."""
        closing = contextlib.AsyncExitStack()
        try:
            pool = await closing.enter_async_context(postgres_pool(config, STORE_NAME))
            await migrate(pool, "governance", STEPS)
        except BaseException:
            await closing.aclose()
            raise
        return cls(pool, closing)

    async def ping(self) -> None:
        """/ready's check: the database answers a query."""
        try:
            await self._pool.fetchval("SELECT 1")
        except Exception:  # its words may name the host and user: /ready says only which store
            raise NotReady(f"PostgreSQL ({STORE_NAME}) does not answer") from None

    async def entries(self) -> list[StoredEntry]:
        async with _answering():
            rows = await self._pool.fetch(f"SELECT {ENTRY_COLUMNS} FROM governance_entries ORDER BY created_at, id")
        return [stored(*row) for row in rows]

    async def entry(self, kind: Kind, entry_id: str) -> StoredEntry | None:
        query = f"SELECT {ENTRY_COLUMNS} FROM governance_entries WHERE kind = $1 AND id = $2"
        async with _answering():
            row = await self._pool.fetchrow(query, kind, entry_id)
        return None if row is None else stored(*row)

    async def reconcile(self, entries: Sequence[ConfigEntry], now: float) -> None:
        rows = [(e.kind, e.entry.id, "config", e.value_hash, body(e.entry), now) for e in entries]
        kept = {(e.kind, e.entry.id) for e in entries}
        async with _answering(), self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", RECONCILE_LOCK)
            await connection.executemany(_numbered(UPSERT), rows)
            found = await connection.fetch("SELECT kind, id FROM governance_entries WHERE source = 'config'")
            gone = [(row["kind"], row["id"]) for row in found if (row["kind"], row["id"]) not in kept]
            await connection.executemany("DELETE FROM governance_entries WHERE kind = $1 AND id = $2", gone)

    async def create(self, kind: Kind, entry: Entry, value_hash: str | None, now: float) -> bool:
        async with _answering():
            status = await self._pool.execute(_numbered(CREATE), kind, entry.id, value_hash, body(entry), now)
        return _count(status) == 1

    async def update(self, kind: Kind, entry: Entry) -> bool:
        async with _answering():
            status = await self._pool.execute(_numbered(UPDATE), body(entry), kind, entry.id)
        return _count(status) == 1

    async def delete(self, kind: Kind, entry_id: str) -> bool:
        query = "DELETE FROM governance_entries WHERE kind = $1 AND id = $2"
        async with _answering():
            return _count(await self._pool.execute(query, kind, entry_id)) == 1

    async def usage(self) -> list[UsageRow]:
        async with _answering():
            rows = await self._pool.fetch("SELECT meter, window_start, used, anchor FROM governance_usage")
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    async def save_usage(self, rows: list[UsageRow]) -> None:
        async with _answering():
            await self._pool.executemany(_numbered(SAVE_USAGE), rows)

    async def close(self) -> None:
        await self._closing.aclose()


def _numbered(statement: str) -> str:
    """store.py's statement on our table, its `?` parameters numbered as PostgreSQL wants them ($1, $2, ...)."""
    parts = statement.format(entries="governance_entries", usage="governance_usage").split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


def _count(status: str) -> int:
    """The row count of a command's status ("INSERT 0 1", "UPDATE 1", "DELETE 0")."""
    return int(status.rsplit(" ", 1)[-1])


@contextlib.asynccontextmanager
async def _answering() -> AsyncIterator[None]:
    """A database out of reach (or too slow) is a 503 saying so, not a 500 carrying its address."""
    import asyncpg

    try:
        yield
    except (
        OSError,
        TimeoutError,
        asyncpg.InterfaceError,
        asyncpg.PostgresConnectionError,
        asyncpg.OperatorInterventionError,  # the server shutting down
    ) as error:
        raise Overloaded(
            f"governance's config store (PostgreSQL) cannot be reached ({type(error).__name__}); try again shortly",
            status=503,
        ) from None
