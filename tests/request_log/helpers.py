"""Shared bits for the request-log tests: configs with the `logging` plugin, a wait for its off-path writes,
and admin calls to /api/logs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.testing import Answer, Gateway, Http, upstream_config
from gateway_plugins.request_log.api import LOG

ADMIN = "admin-token-for-log-tests"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
VK_VALUE = "sk-bf-log-test-key-0000000000000000"
VIRTUAL_KEY = {
    "id": "vk-1",
    "name": "ci-bot",
    "value": VK_VALUE,
    "provider_configs": [{"provider": "anthropic"}, {"provider": "mock"}],
}


def logged(url: str, *, plugins: list[dict[str, Any]] | None = None, **client: Any) -> dict[str, Any]:
    """upstream_config with the request log on (and an admin token for /api/logs)."""
    return {
        **upstream_config(url, **client),
        "plugins": [{"name": "logging", "config": {}}, *(plugins or [])],
        "governance": {"auth_config": {"admin_token": ADMIN}},
    }


async def written(gw: Gateway, count: int, timeout: float = 5.0) -> None:
    """Wait until the log has written `count` rows (its observers and writer run after the answer is sent)."""
    log = gw.app[LOG]
    deadline = time.monotonic() + timeout
    while log.written < count:
        assert time.monotonic() < deadline, f"{log.written} rows written, waited for {count}"
        await asyncio.sleep(0.005)


async def logs(gw: Gateway, **params: Any) -> Answer:
    async with Http(gw.url, None) as http:
        return await http.get("/api/logs", AUTH, params={k: str(v) for k, v in params.items()})


async def rows(gw: Gateway, **params: Any) -> list[dict[str, Any]]:
    answer = await logs(gw, **params)
    assert answer.status == 200, answer
    data: list[dict[str, Any]] = answer.json()["data"]
    return data
