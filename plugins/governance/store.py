"""The governance config store: virtual keys (value hashed), teams, customers and usage, in SQLite.

Config-file entries are reconciled into it at start (added, updated, and removed when gone from the file);
entries created through the admin API live only here. Usage is what the ledger has used per meter and window.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import aiosqlite
import msgspec

from .config import Customer, Team, VirtualKey

Kind = Literal["virtual_key", "team", "customer"]
Entry = VirtualKey | Team | Customer
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


def key_hash(value: str) -> str:
    """Keys are long random strings, so a fast hash is enough to make the stored form useless to a thief."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()  # header bytes as aiohttp reads them


class StoredEntry(msgspec.Struct, frozen=True):
    kind: str
    entry: Entry
    source: str
    value_hash: str | None
    created_at: float


class GovernanceStore:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    @classmethod
    async def open(cls, path: Path) -> GovernanceStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path)
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.executescript(SCHEMA)
        await connection.commit()
        return cls(connection)

    async def entries(self) -> list[StoredEntry]:
        query = "SELECT kind, body, source, value_hash, created_at FROM entries ORDER BY created_at, id"
        async with self._db.execute(query) as cursor:
            rows = await cursor.fetchall()
        return [
            StoredEntry(kind=k, entry=msgspec.json.decode(b, type=TYPES[k]), source=s, value_hash=h, created_at=c)
            for k, b, s, h, c in rows
        ]

    async def put(self, kind: Kind, entry: Entry, source: str, value_hash: str | None, now: float) -> None:
        body = _ENCODER.encode(msgspec.structs.replace(entry, value="") if isinstance(entry, VirtualKey) else entry)
        await self._db.execute(
            "INSERT INTO entries (kind, id, source, value_hash, body, created_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (kind, id) DO UPDATE SET source = excluded.source,"
            " value_hash = COALESCE(excluded.value_hash, entries.value_hash), body = excluded.body",
            (kind, entry.id, source, value_hash, body.decode(), now),
        )
        await self._db.commit()

    async def delete(self, kind: Kind, entry_id: str) -> bool:
        cursor = await self._db.execute("DELETE FROM entries WHERE kind = ? AND id = ?", (kind, entry_id))
        await self._db.commit()
        return cursor.rowcount == 1

    async def delete_config_entries_except(self, kind: Kind, keep: set[str]) -> None:
        async with self._db.execute("SELECT id FROM entries WHERE kind = ? AND source = 'config'", (kind,)) as cur:
            gone = [row[0] for row in await cur.fetchall() if row[0] not in keep]
        await self._db.executemany("DELETE FROM entries WHERE kind = ? AND id = ?", [(kind, i) for i in gone])
        await self._db.commit()

    async def usage(self) -> list[tuple[str, float, float, float]]:
        async with self._db.execute("SELECT meter, window_start, used, anchor FROM usage") as cursor:
            return [(str(m), float(s), float(u), float(a)) for m, s, u, a in await cursor.fetchall()]

    async def save_usage(self, rows: list[tuple[str, float, float, float]]) -> None:
        await self._db.executemany(
            "INSERT INTO usage (meter, window_start, used, anchor) VALUES (?, ?, ?, ?) ON CONFLICT (meter)"
            " DO UPDATE SET window_start = excluded.window_start, used = excluded.used, anchor = excluded.anchor",
            rows,
        )
        await self._db.commit()

    async def close(self) -> None:
        await self._db.close()
