"""Shared bits for the governance tests (tests/http/test_governance_*.py), on the kit's raw client
(`gateway.testing.Http`): config builders, calls with a virtual key, an injectable clock, and a look into the
ledger."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from anthropic.types import MessageParam
from openai.types.chat import ChatCompletionMessageParam

from gateway.testing import (
    Answer,
    FakeUpstream,
    Http,
    Reply,
    anthropic_body,
    anthropic_message,
    openai_body,
    openai_completion,
)
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
# Easy prices (USD per token) for the fake models.
PRICING: dict[str, dict[str, float]] = {
    CLAUDE: {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
    GPT: {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
}
ALL_PROVIDERS = ("anthropic", "openai", "mock")
# A one-word prompt for the SDKs, typed for each.
X: list[MessageParam] = [{"role": "user", "content": "x"}]
X_CHAT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "x"}]
# What a call sends when the test does not say: one "hi" to each fake model, 16 tokens at most.
CLAUDE_BODY = anthropic_body(CLAUDE, max_tokens=16)
GPT_BODY = openai_body(GPT, max_tokens=16)


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


# --- calls with a virtual key (on `gw.http(None)`: the kit's client sending no key of its own) -------------


async def messages(http: Http, key: str | None, model: str = CLAUDE, max_tokens: int = 16, **extra: Any) -> Answer:
    """POST /anthropic/v1/messages with the key (if any) as Authorization: Bearer."""
    return await http.post(
        MESSAGES, anthropic_body(model, max_tokens=max_tokens, **extra), bearer(key) if key else None
    )


async def chat(http: Http, key: str | None, model: str = GPT, max_tokens: int = 16, **extra: Any) -> Answer:
    """POST /v1/chat/completions with the key (if any) as Authorization: Bearer."""
    return await http.post(CHAT, openai_body(model, max_tokens=max_tokens, **extra), bearer(key) if key else None)


async def admin(http: Http, method: str, path: str, body: Any = None, token: str | None = ADMIN) -> Answer:
    """`method` on the admin API with the token (if any) as Authorization: Bearer."""
    return await http.request(method, API + path, body, bearer(token) if token else None)


# --- the ledger -----------------------------------------------------------------------------------------------


def meters(gw: Gateway) -> dict[str, Meter]:
    found: dict[str, Meter] = gw.app[GOVERNANCE].ledger.meters
    return found


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
