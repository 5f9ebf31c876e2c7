"""pytest fixtures of the kit, loaded automatically wherever the gateway is installed (entry point `pytest11`):

- `fake_upstream`: a FakeUpstream on 127.0.0.1, scripted per test;
- `make_gateway(config, plugins=(), app_dir=None)`: start a gateway (stopped at the end of the test);
- `gateway`: a gateway whose anthropic and openai providers call `fake_upstream` (`upstream_config`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from .fakes import FakeUpstream
from .harness import Gateway, serve_gateway, upstream_config

MakeGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[MakeGateway]:
    async with contextlib.AsyncExitStack() as stack:
        started = 0

        async def make(config: dict[str, Any], plugins: Iterable[object] = (), app_dir: Path | None = None) -> Gateway:
            nonlocal started
            started += 1
            app_dir = app_dir or tmp_path / f"gateway-{started}"
            return await stack.enter_async_context(serve_gateway(config, plugins, app_dir))

        yield make


@pytest.fixture
async def gateway(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> Gateway:
    """A gateway whose anthropic and openai providers call `fake_upstream`."""
    return await make_gateway(upstream_config(fake_upstream.url))
