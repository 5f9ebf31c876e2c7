"""PostgreSQL for the durable stores (`config_store` / `logs_store` with `"type": "postgres"`): a bounded asyncpg
pool per store, and versioned schema migrations applied at start-up.

Each component (governance, the request log, a third party's plugin) owns an ordered list of migration steps.
Step N is applied once and recorded in `gateway_schema_versions`; a start-up's steps and their records commit in
one transaction (PostgreSQL's DDL is transactional), so a crash or a failed step leaves the database at the
version it had. Several gateways starting together serialize on an advisory lock: one applies the steps, the
others find them recorded. A database that is at a newer version than
this gateway knows (a rollback of the gateway after an upgrade) is refused, because the old code could
misread the new schema.

asyncpg is an extra (`pip install 'llm-gateway[postgres]'`): it is imported only when a store is Postgres.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from ..config_shared import PostgresStoreConfig

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("gateway.stores")

VERSIONS_TABLE = """
CREATE TABLE IF NOT EXISTS gateway_schema_versions (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)
"""


class PostgresUnavailable(Exception):
    """The database could not be reached or refused us: the message names the store, never the DSN."""


class SchemaTooNew(Exception):
    """The database holds migrations this gateway does not know (it was migrated by a newer gateway)."""


class MigrationFailed(Exception):
    """A step was refused by the database; nothing of this start-up's migration was kept."""


@contextlib.asynccontextmanager
async def postgres_pool(config: PostgresStoreConfig, what: str) -> AsyncIterator[asyncpg.Pool]:
    """An open pool for the store `what` ("config_store", "logs_store"), closed when the block ends."""
    import asyncpg

    # No floor of open connections (min_size 0): asyncpg restores a floor in the background, logging a traceback
    # every retry while the database is down. The first connection is opened here instead, to fail the start.
    pool = asyncpg.create_pool(
        config.url(),
        min_size=0,
        max_size=config.max_open_conns,
        timeout=config.timeout_in_seconds,
        command_timeout=config.timeout_in_seconds,
    )
    try:
        await pool
        async with pool.acquire():
            pass
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        await pool.close()
        # asyncpg's messages name the host and user, never the password; the type is enough to act on.
        raise PostgresUnavailable(f"{what}: PostgreSQL could not be reached ({type(error).__name__})") from None
    try:
        yield pool
    finally:
        await pool.close()


async def migrate(pool: asyncpg.Pool, component: str, steps: Sequence[str]) -> int:
    """Apply the steps of `component` the database has not recorded yet; return its version afterwards.

    Steps are append-only: a released step is never edited (a database that ran it would not run it again), a
    change is a new step."""
    import asyncpg

    async with pool.acquire() as connection, connection.transaction():
        # One lock per component for the whole run: concurrent starters wait, then see the steps recorded.
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _lock_id(component))
        await connection.execute(VERSIONS_TABLE)
        current = await connection.fetchval(
            "SELECT coalesce(max(version), 0) FROM gateway_schema_versions WHERE component = $1", component
        )
        if current > len(steps):
            raise SchemaTooNew(
                f"{component}: the database is at schema version {current}, this gateway knows {len(steps)}; "
                "run the newer gateway, or restore a backup taken before it migrated"
            )
        for version in range(current + 1, len(steps) + 1):
            try:
                await connection.execute(steps[version - 1])
            except asyncpg.PostgresError as error:  # the database's own words: they name SQL, not credentials
                raise MigrationFailed(f"{component}: schema step {version} failed: {error}") from None
            await connection.execute(
                "INSERT INTO gateway_schema_versions (component, version) VALUES ($1, $2)", component, version
            )
            log.info("%s: schema migrated to version %d", component, version)
        return len(steps)


def _lock_id(component: str) -> int:
    # A stable 32-bit id per component (Python's hash() is salted per process, so it cannot be used here).
    return zlib.crc32(f"gateway-schema:{component}".encode())
