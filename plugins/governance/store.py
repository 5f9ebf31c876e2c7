"""The governance config store: virtual keys (value hashed), teams, customers and usage.

`GovernanceStore` is what lifecycle, admin and the request path need of it; `SqliteGovernanceStore` keeps it in
`<app-dir>/config.db` (the default, or Bifrost's `config_store.config.path`), `PostgresGovernanceStore`
(pg_store.py) in a database several gateways share (`config_store` of type postgres).

Config-file entries are reconciled into it at start (added, updated, and removed when gone from the file);
entries created through the admin API live only here. Usage is what the ledger has used per meter and window.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

import aiosqlite
import msgspec

from .config import Customer, Team, VirtualKey

Kind = Literal["virtual_key", "team", "customer"]
Entry = VirtualKey | Team | Customer
UsageRow = tuple[str, float, float, float]  # meter key, window start, used, anchor
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    source TEXT NOT NULL,          -- 'config' or 'api'
    value_hash TEXT,               -- virtual keys only: sha256 of the key
    body TEXT NOT NULL,            -- the entry as JSON, the key's value blanked
    created_at REAL NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS entries_hash ON entries (value_hash) WHERE value_hash IS NOT NULL;
CREATE TABLE IF NOT EXISTS usage (
    meter TEXT PRIMARY KEY,
    window_start REAL NOT NULL,
    used REAL NOT NULL,
    anchor REAL NOT NULL
);
"""
TYPES: dict[str, type[Entry]] = {"virtual_key": VirtualKey, "team": Team, "customer": Customer}
_ENCODER = msgspec.json.Encoder()
# The same statements serve both databases (pg_store.py numbers the ? for PostgreSQL).
UPSERT = (
    "INSERT INTO {entries} (kind, id, source, value_hash, body, created_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (kind, id) DO UPDATE SET source = excluded.source,"
    " value_hash = COALESCE(excluded.value_hash, {entries}.value_hash), body = excluded.body"
)
CREATE = (
    "INSERT INTO {entries} (kind, id, source, value_hash, body, created_at) VALUES (?, ?, 'api', ?, ?, ?)"
    " ON CONFLICT (kind, id) DO NOTHING"
)
UPDATE = "UPDATE {entries} SET source = 'api', body = ? WHERE kind = ? AND id = ?"
# Within a window usage only grows, so a row keeps the largest count it was given: several gateways saving their
# view of one shared total (or, without Redis, each its own count) never put back an older, smaller one.
SAVE_USAGE = (
    "INSERT INTO {usage} (meter, window_start, used, anchor) VALUES (?, ?, ?, ?) ON CONFLICT (meter)"
    " DO UPDATE SET window_start = excluded.window_start, used = excluded.used, anchor = excluded.anchor"
    " WHERE excluded.window_start > {usage}.window_start"
    " OR (excluded.window_start = {usage}.window_start AND excluded.used > {usage}.used)"
)


def key_hash(value: str) -> str:
    """Keys are long random strings, so a fast hash is enough to make the stored form useless to a thief."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()  # header bytes as aiohttp reads them


class StoredEntry(msgspec.Struct, frozen=True):
    kind: str
    entry: Entry
    source: str
    value_hash: str | None
    created_at: float


class ConfigEntry(msgspec.Struct, frozen=True):
    """One entry of the config file, as reconcile writes it."""

    kind: Kind
    entry: Entry
    value_hash: str | None = None


class GovernanceStore(Protocol):
    """Where governance keeps its entries and usage. Every write is atomic on its own (one statement, or one
    transaction); several gateways may share one store (PostgreSQL)."""

    async def entries(self) -> list[StoredEntry]:
        """Every entry, oldest first."""
        ...

    async def entry(self, kind: Kind, entry_id: str) -> StoredEntry | None:
        """One entry (what another node changed, say), or None when there is none."""
        ...

    async def reconcile(self, entries: Sequence[ConfigEntry], now: float) -> None:
        """Make the store hold the config file's entries (added or updated; those of source 'config' that are
        gone from the file, removed), in one transaction."""
        ...

    async def create(self, kind: Kind, entry: Entry, value_hash: str | None, now: float) -> bool:
        """Add an admin-API entry; False (nothing written) when its id is taken."""
        ...

    async def update(self, kind: Kind, entry: Entry) -> bool:
        """Replace an entry's body (a key's hash is kept), making it the admin API's; False when it is gone."""
        ...

    async def delete(self, kind: Kind, entry_id: str) -> bool: ...

    async def usage(self) -> list[UsageRow]: ...

    async def save_usage(self, rows: list[UsageRow]) -> None: ...

    async def close(self) -> None: ...


def body(entry: Entry) -> str:
    """The entry as stored: JSON, a key's value blanked (only its hash is kept)."""
    blanked = msgspec.structs.replace(entry, value="") if isinstance(entry, VirtualKey) else entry
    return _ENCODER.encode(blanked).decode()


def stored(kind: str, text: str, source: str, value_hash: str | None, created_at: float) -> StoredEntry:
    entry = msgspec.json.decode(text, type=TYPES[kind])
    return StoredEntry(kind=kind, entry=entry, source=source, value_hash=value_hash, created_at=created_at)


class SqliteGovernanceStore:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    @classmethod
    async def open(cls, path: Path) -> SqliteGovernanceStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path)
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.executescript(SCHEMA)
        await connection.commit()
        return cls(connection)

    async def entries(self) -> list[StoredEntry]:
        query = "SELECT kind, body, source, value_hash, created_at FROM entries ORDER BY created_at, id"
        async with self._db.execute(query) as cursor:
            return [stored(*row) for row in await cursor.fetchall()]

    async def entry(self, kind: Kind, entry_id: str) -> StoredEntry | None:
        query = "SELECT kind, body, source, value_hash, created_at FROM entries WHERE kind = ? AND id = ?"
        async with self._db.execute(query, (kind, entry_id)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else stored(*row)

    async def reconcile(self, entries: Sequence[ConfigEntry], now: float) -> None:
        rows = [(e.kind, e.entry.id, "config", e.value_hash, body(e.entry), now) for e in entries]
        kept = {(e.kind, e.entry.id) for e in entries}
        try:
            await self._db.executemany(UPSERT.format(entries="entries"), rows)
            async with self._db.execute("SELECT kind, id FROM entries WHERE source = 'config'") as cursor:
                gone = [(kind, i) for kind, i in await cursor.fetchall() if (kind, i) not in kept]
            await self._db.executemany("DELETE FROM entries WHERE kind = ? AND id = ?", gone)
        except BaseException:
            await self._db.rollback()
            raise
        await self._db.commit()

    async def create(self, kind: Kind, entry: Entry, value_hash: str | None, now: float) -> bool:
        args = (kind, entry.id, value_hash, body(entry), now)
        cursor = await self._db.execute(CREATE.format(entries="entries"), args)
        await self._db.commit()
        return cursor.rowcount == 1

    async def update(self, kind: Kind, entry: Entry) -> bool:
        cursor = await self._db.execute(UPDATE.format(entries="entries"), (body(entry), kind, entry.id))
        await self._db.commit()
        return cursor.rowcount == 1

    async def delete(self, kind: Kind, entry_id: str) -> bool:
        cursor = await self._db.execute("DELETE FROM entries WHERE kind = ? AND id = ?", (kind, entry_id))
        await self._db.commit()
        return cursor.rowcount == 1

    async def usage(self) -> list[UsageRow]:
        async with self._db.execute("SELECT meter, window_start, used, anchor FROM usage") as cursor:
            return [(str(m), float(s), float(u), float(a)) for m, s, u, a in await cursor.fetchall()]

    async def save_usage(self, rows: list[UsageRow]) -> None:
        await self._db.executemany(SAVE_USAGE.format(usage="usage"), rows)
        await self._db.commit()

    async def close(self) -> None:
        await self._db.close()
