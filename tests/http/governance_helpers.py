"""Shared bits for the governance tests (tests/http/test_governance_*.py): config builders, raw HTTP with aiohttp,
dialect error checks, an injectable clock, a look into the ledger, and a gateway the test can stop and restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from gateway.app import create_app
from gateway.config import parse_settings
from gateway.http.server import Listening, listen
from gateway.testing import FakeUpstream, Reply, anthropic_message, openai_completion
from gateway_plugins.governance.ledger import Meter
from gateway_plugins.governance.lifecycle import GOVERNANCE
from tests.conftest import Gateway, upstream_config

ADMIN = "admin-token-for-tests"
VK_A = "sk-bf-test-key-aaaaaaaaaaaaaaaa"
VK_B = "sk-bf-test-key-bbbbbbbbbbbbbbbb"
CLAUDE = "anthropic/claude-x"
GPT = "openai/gpt-x"
# Gateway routes
MESSAGES = "/anthropic/v1/messages"
CHAT = "/v1/chat/completions"
API = "/api/governance"
# Fake upstream paths
UP_MESSAGES = "/v1/messages"
UP_CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]
# Easy prices (USD per token) for the fake models.
PRICING: dict[str, dict[str, float]] = {
    CLAUDE: {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
    GPT: {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
}
ALL_PROVIDERS = ("anthropic", "openai", "mock")


def providers(*names: str, **fields: Any) -> list[dict[str, Any]]:
    """provider_configs allowing every model of each named provider (all three by default)."""
    return [{"provider": name, "allowed_models": ["*"], **fields} for name in names or ALL_PROVIDERS]


def vk(key_id: str, value: str, **fields: Any) -> dict[str, Any]:
    """A virtual key for the config file; by default it may use every provider and model."""
    return {"id": key_id, "name": key_id, "value": value, "provider_configs": providers(), **fields}


def budget(max_limit: float, reset_duration: str = "1M", **fields: Any) -> dict[str, Any]:
    return {"max_limit": max_limit, "reset_duration": reset_duration, **fields}


def config(
    url: str,
    *keys: dict[str, Any],
    teams: Sequence[dict[str, Any]] = (),
    customers: Sequence[dict[str, Any]] = (),
    pricing: Mapping[str, Any] | None = None,
    admin: str | None = ADMIN,
    **client: Any,
) -> dict[str, Any]:
    """upstream_config (anthropic + openai on the fake, and mock) with a governance section."""
    governance: dict[str, Any] = {
        "virtual_keys": list(keys),
        "teams": list(teams),
        "customers": list(customers),
        "pricing": dict(PRICING if pricing is None else pricing),
    }
    if admin is not None:
        governance["auth_config"] = {"admin_token": admin}
    return {**upstream_config(url, **client), "governance": governance}


def answer_everything(fake: FakeUpstream, **usage: Any) -> None:
    """Both upstream kinds answer every call (with the given usage, if any)."""
    fake.default(UP_MESSAGES, Reply.json(anthropic_message("from anthropic", usage=usage.get("anthropic"))))
    fake.default(UP_CHAT, Reply.json(openai_completion("from openai", usage=usage.get("openai"))))


def anthropic_body(model: str = CLAUDE, max_tokens: int = 16, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": max_tokens, "messages": HI, **extra}


def openai_body(model: str = GPT, max_tokens: int = 16, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": max_tokens, "messages": HI, **extra}


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


class FakeClock:
    """A clock the test moves by hand: `gw.app[GOVERNANCE].set_clock(clock)`."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def utc(text: str) -> float:
    """'2031-01-31T23:59:59' (UTC) as a Unix timestamp."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def use_clock(gw: Gateway, now: float | None = None) -> FakeClock:
    clock = FakeClock(now)
    gw.app[GOVERNANCE].set_clock(clock)
    return clock


# --- raw HTTP -----------------------------------------------------------------------------------------------


class Answer:
    """A gateway answer read in full."""

    def __init__(self, status: int, headers: CIMultiDictProxy[str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Answer({self.status}, {dict(self.headers)!r}, {self.body[:600]!r})"


class Raw:
    """One aiohttp session against a gateway."""

    def __init__(self, gw: Gateway) -> None:
        self.url = gw.url
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Raw:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        await self._session.close()

    async def request(
        self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        assert self._session is not None
        sent = {"Content-Type": "application/json", "anthropic-version": "2023-06-01", **(headers or {})}
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        async with self._session.request(method, self.url + path, data=data, headers=sent) as resp:
            return Answer(resp.status, resp.headers, await resp.read())

    async def post(self, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
        return await self.request("POST", path, body, headers)

    async def messages(self, key: str | None, model: str = CLAUDE, **extra: Any) -> Answer:
        """POST /anthropic/v1/messages with the key (if any) as Authorization: Bearer."""
        return await self.post(MESSAGES, anthropic_body(model, **extra), bearer(key) if key else None)

    async def chat(self, key: str | None, model: str = GPT, **extra: Any) -> Answer:
        """POST /v1/chat/completions with the key (if any) as Authorization: Bearer."""
        return await self.post(CHAT, openai_body(model, **extra), bearer(key) if key else None)

    async def admin(self, method: str, path: str, body: Any = None, token: str | None = ADMIN) -> Answer:
        return await self.request(method, API + path, body, bearer(token) if token else None)


# --- error shapes ---------------------------------------------------------------------------------------------


def assert_anthropic_error(answer: Answer, status: int, kind: str, *contains: str) -> str:
    """The Anthropic error shape, its request-id header matching the body, and the message's content."""
    assert answer.status == status, answer
    body = answer.json()
    assert body["type"] == "error", body
    assert body["error"]["type"] == kind, body
    assert answer.headers["request-id"].startswith("req_"), answer
    assert body["request_id"] == answer.headers["request-id"], answer
    message: str = body["error"]["message"]
    for text in contains:
        assert text in message, (text, message)
    return message


def assert_openai_error(answer: Answer, status: int, kind: str, *contains: str, code: str | None = None) -> str:
    """The OpenAI error shape ({"error": {...}} only), its x-request-id header, and the message's content."""
    assert answer.status == status, answer
    body = answer.json()
    assert set(body) == {"error"}, body
    assert body["error"]["type"] == kind, body
    if code is not None:
        assert body["error"]["code"] == code, body
    assert answer.headers["x-request-id"].startswith("req_"), answer
    message: str = body["error"]["message"]
    for text in contains:
        assert text in message, (text, message)
    return message


# --- the ledger -----------------------------------------------------------------------------------------------


def meters(gw: Gateway) -> dict[str, Meter]:
    return gw.app[GOVERNANCE].ledger.meters


def used(gw: Gateway, meter_key: str) -> float:
    meter = meters(gw).get(meter_key)
    return 0.0 if meter is None else meter.used


async def settled(gw: Gateway, timeout: float = 3.0) -> None:
    """Wait until no meter holds a reservation (record_usage runs off the request path, just after it)."""
    deadline = time.monotonic() + timeout
    while any(m.reserved for m in meters(gw).values()):
        assert time.monotonic() < deadline, {k: m.reserved for k, m in meters(gw).items() if m.reserved}
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.02)  # and let any observer still queued run


# --- a gateway the test stops (cleanly) and starts again on the same app dir ---------------------------------


class Restartable:
    """Like the `make_gateway` fixture, but `stop()` is a clean shutdown the test calls itself."""

    def __init__(self, config: dict[str, Any], app_dir: Path) -> None:
        self.config = config
        self.app_dir = app_dir
        self._servers: list[Listening] = []

    async def start(self, config: dict[str, Any] | None = None) -> Gateway:
        app = create_app(parse_settings(config or self.config), app_dir=self.app_dir)
        server = await listen(app, "127.0.0.1", 0)
        self._servers.append(server)
        return Gateway(url=server.url, app=app)

    async def stop(self) -> None:
        """Close the running server: its app's cleanup saves the usage and closes the store."""
        if self._servers:
            await self._servers.pop().close()

    async def __aenter__(self) -> Restartable:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        while self._servers:
            await self.stop()
