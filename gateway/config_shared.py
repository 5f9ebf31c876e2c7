"""The config of state shared by several gateway processes and hosts: the top-level `redis` section, and Bifrost's
`config_store` / `logs_store` (SQLite in the app dir by default, or PostgreSQL).

Without them, every store is the process's own (memory and SQLite in the app dir), which is right for one process
on one machine and wrong for more: their budgets, rate limits, jobs and keys would diverge.
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote, urlsplit

import msgspec
from msgspec import Meta, field

from .config_base import ConfigStruct


class RedisConfig(ConfigStruct, frozen=True):
    url: str  # redis://[:password@]host:port/db or rediss://...; "env.REDIS_URL" keeps the password out of the file
    key_prefix: str = "bf:"  # every key the gateway writes starts with it (several gateways, one Redis)
    # What a call does while Redis cannot be reached: "deny" refuses what needs shared state (503), which keeps
    # budgets and limits exact; "allow_local" falls back to this process's own counters until Redis is back.
    on_failure: Literal["deny", "allow_local"] = "deny"
    # One operation's deadline: a Redis that hangs must not hang the calls that wait on it.
    timeout_in_seconds: Annotated[float, Meta(gt=0, le=30)] = 0.5
    max_connections: Annotated[int, Meta(ge=1, le=10_000)] = 200
    # Async jobs: how long a job claimed by a process that stopped answering (its heartbeat, every quarter of this,
    # stopped) waits before another process takes it over and runs it again.
    jobs_visibility_timeout_in_seconds: Annotated[float, Meta(ge=0.2, le=86_400)] = 60.0

    def __post_init__(self) -> None:
        # The messages never quote the URL: it may hold a password.
        if urlsplit(self.url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("url: a redis://, rediss:// or unix:// URL is expected")
        if importlib.util.find_spec("redis") is None or importlib.util.find_spec("hiredis") is None:
            raise ValueError("needs the redis and hiredis packages (pip install 'llm-gateway[redis]')")

    def secrets(self) -> list[str]:
        """The URL and its password: never in a log line or an answer."""
        return url_secrets(self.url)


class PostgresStoreConfig(ConfigStruct, frozen=True):
    """Where a PostgreSQL store is: a `dsn` (postgresql://user:password@host:port/db?sslmode=...; "env.PG_DSN"
    keeps the password out of the file), or Bifrost's separate fields, used when `dsn` is empty."""

    dsn: str = ""
    host: str = "localhost"
    port: int | str = 5432  # Bifrost writes it as a string
    user: str = "postgres"
    password: str = ""
    db_name: str = "postgres"
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    max_open_conns: Annotated[int, Meta(ge=1, le=1000)] = 10  # the pool's size, per store and process
    max_idle_conns: int = 0  # Bifrost's; asyncpg keeps idle connections until `max_open_conns`, so unused
    # One statement's deadline: a database that hangs must not hang the calls or the start-up that wait on it.
    timeout_in_seconds: Annotated[float, Meta(gt=0, le=300)] = 10.0

    def __post_init__(self) -> None:
        # The messages never quote the DSN: it may hold a password.
        if self.dsn and urlsplit(self.dsn).scheme not in ("postgres", "postgresql"):
            raise ValueError("dsn: a postgresql:// URL is expected")
        if importlib.util.find_spec("asyncpg") is None:
            raise ValueError("needs the asyncpg package (pip install 'llm-gateway[postgres]')")

    def url(self) -> str:
        if self.dsn:
            return self.dsn
        auth = quote(self.user, safe="") + (f":{quote(self.password, safe='')}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.db_name, safe='')}?sslmode={self.ssl_mode}"

    def secrets(self) -> list[str]:
        """The DSN and its password: never in a log line, an answer or a stored row."""
        return url_secrets(self.url())


class StoreConfig(ConfigStruct, frozen=True):
    """Bifrost's `config_store` / `logs_store`: which database keeps what. `sqlite` (the default) keeps it in the
    app dir; `postgres` in the database `config` names, shared by every gateway pointed at it."""

    enabled: bool = True
    type: str = "sqlite"
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        path = self.config.get("path")
        if self.type == "sqlite" and path is not None and not (isinstance(path, str) and path):
            raise ValueError("config.path: a file path is expected (relative to the app dir, or absolute)")
        if self.type == "postgres" and self.enabled:
            try:
                self.postgres()
            except msgspec.ValidationError as error:
                raise ValueError(f"config: {error}") from None

    def postgres(self) -> PostgresStoreConfig | None:
        """The PostgreSQL settings when this store is Postgres (and enabled), else None."""
        if self.type != "postgres" or not self.enabled:
            return None
        return msgspec.convert(self.config, PostgresStoreConfig)


def store_secrets(*stores: StoreConfig | None) -> list[str]:
    """The DSNs and passwords of the Postgres stores among `stores`."""
    return [secret for store in stores if store is not None and (pg := store.postgres()) for secret in pg.secrets()]


def url_secrets(url: str) -> list[str]:
    """A URL that may hold a password, and the password as written in it (percent-encoded) and as sent."""
    password = urlsplit(url).password
    return [url, *((password, unquote(password)) if password else ())]
