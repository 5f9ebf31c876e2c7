"""Shared bits for the response-cache tests: configs with the `semantic_cache` plugin, and a wait for its
off-path writes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.testing import Answer, Http, anthropic_body, openai_body
from gateway_plugins.semantic_cache import RUNTIME
from tests.conftest import Gateway, upstream_config

CLAUDE = "claude-x"  # bare: /anthropic routes it to the anthropic provider
GPT = "openai/gpt-x"
MESSAGES = "/anthropic/v1/messages"
CHAT = "/v1/chat/completions"
UP_MESSAGES = "/v1/messages"
UP_CHAT = "/v1/chat/completions"
UP_EMBEDDINGS = "/v1/embeddings"
KEY = {"x-bf-cache-key": "team-docs"}
ADMIN = "admin-token-for-cache-tests"


def cache_config(url: str, **config: Any) -> dict[str, Any]:
    """upstream_config with the plugin enabled (and an admin token for the clear routes)."""
    return {
        **upstream_config(url),
        "plugins": [{"name": "semantic_cache", "config": config}],
        "governance": {"auth_config": {"admin_token": ADMIN}},
    }


async def stored(gw: Gateway, count: int, timeout: float = 3.0) -> None:
    """Wait until the cache has written `count` entries (gw_cache_store runs after the answer is sent)."""
    store = gw.app[RUNTIME].store
    deadline = time.monotonic() + timeout
    while store.writes < count:
        assert time.monotonic() < deadline, f"{store.writes} entries stored, waited for {count}"
        await asyncio.sleep(0.005)


async def ask_claude(
    http: Http, text: str = "hi", headers: dict[str, str] | None = None, model: str = CLAUDE, **extra: Any
) -> Answer:
    body = anthropic_body(model, text, max_tokens=32, **extra)
    return await http.post(MESSAGES, body, KEY | (headers or {}))


async def ask_gpt(
    http: Http, text: str = "hi", headers: dict[str, str] | None = None, model: str = GPT, **extra: Any
) -> Answer:
    body = openai_body(model, text, max_tokens=32, **extra)
    return await http.post(CHAT, body, KEY | (headers or {}))
