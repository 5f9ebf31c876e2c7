from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .redis_server import RedisServer, redis_server


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    async with redis_server(tmp_path) as server:
        yield server
