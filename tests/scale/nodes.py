"""Several `python -m gateway serve` processes (each its own app dir and log) on one Redis and one fake upstream,
as a deployment of several gateway nodes runs them; reaped (SIGKILL) when the block ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.testing import Answer, Http, anthropic_body
from tests.cli_helpers import cli_env
from tests.http.async_helpers import free_port, read_log, reap, spawn_gateway, wait_healthy
from tests.http.governance_helpers import CLAUDE, MESSAGES, bearer, config

MAX_TOKENS = 16
PASSWORD = "redis-password-for-tests-7f3a9c"  # the tests' Redis asks for it: a URL that holds a secret


@dataclass
class Node:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        return read_log(self.log)


def node_config(upstream_url: str, *keys: dict[str, Any], **redis: Any) -> dict[str, Any]:
    """The governance test config (anthropic on the fake upstream, easy prices) with a `redis` section whose URL is
    read from REDIS_URL (so its password is in no file)."""
    return {**config(upstream_url, *keys), "redis": {"url": "env.REDIS_URL", "timeout_in_seconds": 2.0, **redis}}


@contextlib.asynccontextmanager
async def nodes(directory: Path, count: int, settings: dict[str, Any], redis_url: str) -> AsyncIterator[list[Node]]:
    path = directory / "config.json"
    path.write_text(json.dumps(settings))
    started: list[Node] = []
    try:
        for i in range(count):
            port, log = free_port(), directory / f"node{i}.log"
            process = spawn_gateway(path, port, directory / f"node{i}", log, env=cli_env(REDIS_URL=redis_url))
            started.append(Node(f"http://127.0.0.1:{port}", log, process))
        await asyncio.gather(*(wait_healthy(n.process, n.url, n.log) for n in started))
        yield started
    finally:
        reap([n.process for n in started])


async def ask(node: Node, key: str) -> Answer:
    """One Anthropic call to CLAUDE with the virtual key, on `node`."""
    async with Http(node.url, key=None) as http:
        return await ask_app(http, key)


async def ask_app(http: Http, key: str) -> Answer:
    return await http.post(MESSAGES, anthropic_body(CLAUDE, "hi", max_tokens=MAX_TOKENS), bearer(key))
