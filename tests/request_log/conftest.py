"""Every request-log test that starts a gateway runs twice: on the default store (SQLite, `logs.db` in the app dir)
and with `logs_store` on a real PostgreSQL (a fresh database per test), so both stores give the same answers.
`open_store` opens the same store as the test's gateway does, to put rows in before it starts."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.api import StoreConfig
from gateway.testing import Gateway, MakeGateway
from gateway_plugins.request_log.api import LOG
from gateway_plugins.request_log.store import LogStore, SqliteLogStore

OpenStore = Callable[[Path], contextlib.AbstractAsyncContextManager[LogStore]]


@pytest.fixture(params=["sqlite", "postgres"])
def logs_store(request: pytest.FixtureRequest) -> dict[str, Any] | None:
    """The config's `logs_store`: none (SQLite in the app dir), or PostgreSQL."""
    if request.param == "sqlite":
        return None
    return {"type": "postgres", "config": {"dsn": request.getfixturevalue("pg_dsn")}}


@pytest.fixture
def make_gateway(make_gateway: MakeGateway, logs_store: dict[str, Any] | None) -> MakeGateway:
    async def make(config: dict[str, Any], plugins: Iterable[object] = (), app_dir: Path | None = None) -> Gateway:
        if logs_store is not None:
            config = {"logs_store": logs_store, **config}
        gw = await make_gateway(config, plugins, app_dir)
        if LOG in gw.app:  # the store asked for, not a silent fallback to the default
            assert type(gw.app[LOG].store).__name__ == ("PostgresLogStore" if logs_store else "SqliteLogStore")
        return gw

    return make


@pytest.fixture
def open_store(logs_store: dict[str, Any] | None) -> OpenStore:
    @contextlib.asynccontextmanager
    async def opened(app_dir: Path) -> AsyncIterator[LogStore]:
        if logs_store is None:
            store = await SqliteLogStore.open(app_dir / "logs.db", clock=time.time)
            try:
                yield store
            finally:
                await store.close()
            return
        from gateway_plugins.request_log.postgres import postgres_store

        config = msgspec.convert(logs_store, StoreConfig).postgres()
        assert config is not None
        async with postgres_store(config, clock=time.time) as shared:
            yield shared

    return opened
