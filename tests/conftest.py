"""Shared fixtures: fake upstreams on 127.0.0.1, a running gateway app, and official SDK clients pointed at it.

Tests use the async SDK clients: the gateway runs in the test's own event loop, so a sync client would block it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.config import parse_settings
from gateway.http.server import Listening, listen
from tests.fakes.upstream import FakeUpstream

ANTHROPIC_KEY = "sk-ant-upstream-secret"
OPENAI_KEY = "sk-openai-upstream-secret"
CLIENT_KEY = "client-key-never-forwarded"


@dataclass
class Gateway:
    url: str
    app: web.Application

    def anthropic(self, **kwargs: Any) -> anthropic.AsyncAnthropic:
        options: dict[str, Any] = {
            "api_key": CLIENT_KEY,
            "max_retries": 0,
            "_strict_response_validation": True,
        }
        options.update(kwargs)
        return anthropic.AsyncAnthropic(base_url=self.url + "/anthropic", **options)

    def openai(self, **kwargs: Any) -> openai.AsyncOpenAI:
        options: dict[str, Any] = {"api_key": CLIENT_KEY, "max_retries": 0}
        options.update(kwargs)
        return openai.AsyncOpenAI(base_url=self.url + "/v1", **options)


def upstream_config(url: str, **client: Any) -> dict[str, Any]:
    """Anthropic and OpenAI providers both served by one fake upstream, plus the mock provider."""
    return {
        "providers": {
            "anthropic": {
                "keys": [{"name": "a", "value": ANTHROPIC_KEY}],
                "network_config": {"base_url": url},
            },
            "openai": {"keys": [{"name": "o", "value": OPENAI_KEY}], "network_config": {"base_url": url}},
            "mock": {},
        },
        "client": client,
    }


@pytest.fixture
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as fake:
        yield fake


MakeGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[MakeGateway]:
    servers: list[Listening] = []

    async def make(config: dict[str, Any], plugins: Iterable[object] = (), app_dir: Path | None = None) -> Gateway:
        app_dir = app_dir or tmp_path / f"gateway-{len(servers)}"
        app = create_app(parse_settings(config), app_dir=app_dir, extra_plugins=plugins)
        server = await listen(app, "127.0.0.1", 0)  # the listeners `gateway serve` runs, on a free port
        servers.append(server)
        return Gateway(url=server.url, app=app)

    yield make
    for server in servers:
        await server.close()


@pytest.fixture
async def gateway(fake_upstream: FakeUpstream, make_gateway: MakeGateway) -> Gateway:
    """A gateway whose anthropic and openai providers call `fake_upstream`."""
    return await make_gateway(upstream_config(fake_upstream.url))
