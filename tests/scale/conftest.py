"""A real redis-server with a password, per test (random port on 127.0.0.1), for the scale-out tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cache.redis_server import RedisServer, redis_server

from .nodes import PASSWORD


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with redis_server(tmp_path, password=PASSWORD) as server:
        yield server
