"""The suite's fixtures are the plugin author's kit (`gateway.testing`, loaded as a pytest plugin): fake_upstream,
make_gateway, gateway. The names below are the kit's, for the tests that import them from here; and a real
PostgreSQL (`postgres_server`, one per session, started on first use; `pg_dsn`, a fresh database per test)."""

from __future__ import annotations

from gateway.testing import ANTHROPIC_KEY, CLIENT_KEY, OPENAI_KEY, Gateway, MakeGateway, upstream_config
from tests.pg_server import pg_dsn, postgres_server

__all__ = [
    "ANTHROPIC_KEY", "CLIENT_KEY", "OPENAI_KEY", "Gateway", "MakeGateway", "pg_dsn", "postgres_server",
    "upstream_config",
]  # fmt: skip
