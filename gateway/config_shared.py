"""The config of state shared by several gateway processes and hosts: the top-level `redis` section.

Without it, every store is the process's own (memory and SQLite in the app dir), which is right for one process
on one machine and wrong for more: their budgets, rate limits, jobs and keys would diverge.
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Literal
from urllib.parse import urlsplit

from msgspec import Meta

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
        if importlib.util.find_spec("redis") is None:
            raise ValueError("needs the redis package (pip install 'llm-gateway[redis]')")
