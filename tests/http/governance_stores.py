"""Where a governance test's gateway keeps its state: SQLite in its app dir (the default) or a PostgreSQL database
(`config_store` of type postgres), so that the admin-API tests run against both stores."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Store:
    dsn: str | None = None  # None: SQLite in the app dir

    def config(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The gateway's config with this store as its `config_store`."""
        if self.dsn is None:
            return settings
        return {**settings, "config_store": {"type": "postgres", "config": {"dsn": self.dsn}}}

    async def contents(self, app_dir: Path) -> bytes:
        """Everything stored, wherever a row may be: SQLite's files (with the WAL), or every row of every table."""
        if self.dsn is None:
            return _sqlite_bytes(app_dir)
        connection = await asyncpg.connect(self.dsn)
        try:
            tables = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            rows = [
                row[0]
                for table in tables
                for row in await connection.fetch(f'SELECT t::text FROM "{table[0]}" t')  # every column, as text
            ]
        finally:
            await connection.close()
        assert rows
        return "\n".join(rows).encode()

    async def usage(self, app_dir: Path) -> dict[str, float]:
        """The saved usage: meter -> used."""
        if self.dsn is None:
            return _sqlite_usage(app_dir)
        pg = await asyncpg.connect(self.dsn)
        try:
            return {row["meter"]: row["used"] for row in await pg.fetch("SELECT meter, used FROM governance_usage")}
        finally:
            await pg.close()


def _sqlite_bytes(app_dir: Path) -> bytes:
    files = sorted(app_dir.glob("config.db*"))
    assert app_dir / "config.db" in files, files
    return b"".join(path.read_bytes() for path in files)


def _sqlite_usage(app_dir: Path) -> dict[str, float]:
    connection = sqlite3.connect(f"file:{app_dir / 'config.db'}?mode=ro", uri=True, timeout=5)
    try:
        return dict(connection.execute("SELECT meter, used FROM usage").fetchall())
    finally:
        connection.close()
