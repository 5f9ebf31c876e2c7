"""Shared bits of the adaptation tests: fake upstreams that refuse what the real APIs refuse, a gateway with an
OpenAI, an Anthropic, a Gemini and a self-hosted provider on them, and Claude Code's request shape."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.testing import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    FakeUpstream,
    Gateway,
    anthropic_checks,
    gemini_checks,
    openai_checks,
    serve_gateway,
)

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
DATA = Path(__file__).resolve().parents[1] / "data" / "claude_code"


@dataclass
class Upstreams:
    openai: FakeUpstream
    anthropic: FakeUpstream
    gemini: FakeUpstream
    local: FakeUpstream  # a self-hosted OpenAI-compatible server (no checks: it takes what it gets)


def config(up: Upstreams, **client: Any) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {"keys": [{"value": OPENAI_KEY}], "network_config": {"base_url": up.openai.url}},
            "anthropic": {"keys": [{"value": ANTHROPIC_KEY}], "network_config": {"base_url": up.anthropic.url}},
            "gemini": {"keys": [{"value": "goog-key"}], "network_config": {"base_url": up.gemini.url}},
            "local": {
                "keys": [{"value": "none"}],
                "custom_provider_config": {"base_provider_type": "openai"},
                "network_config": {"base_url": up.local.url},
                "models": {"qwen3-coder": {"max_output_tokens": 8192, "input_modalities": ["text"]}},
            },
        },
        "client": client,
    }


async def upstreams() -> AsyncIterator[Upstreams]:
    async with (
        FakeUpstream(check=openai_checks()) as openai,
        FakeUpstream(check=anthropic_checks()) as anthropic,
        FakeUpstream(check=gemini_checks()) as gemini,
        FakeUpstream() as local,
    ):
        yield Upstreams(openai, anthropic, gemini, local)


async def gateway(up: Upstreams, **client: Any) -> AsyncIterator[Gateway]:
    async with serve_gateway(config(up, **client)) as gw:
        yield gw


def claude_code_turn(model: str, capture: str = "hello_gpt_4o_mini.json", n: int = 0) -> dict[str, Any]:
    """A request Claude Code 2.x sent (captured, see tests/data/claude_code/README.md), for `model`: by default
    its first turn for a model it does not know (max_tokens 32000, adaptive thinking, effort "high", a trailing
    role "system" message, a 150-character metadata.user_id, stream)."""
    body: dict[str, Any] = json.loads((DATA / capture).read_text())["requests"][n]["body"]
    return body | {"model": model}


GOLDEN = DATA / "adapted"


def assert_golden(name: str, body: dict[str, Any]) -> None:
    """`body` (what an upstream received) equals the golden file `name`.json; GOLDEN_UPDATE=1 rewrites it."""
    path = GOLDEN / f"{name}.json"
    text = json.dumps(body, indent=1, sort_keys=True) + "\n"
    if os.environ.get("GOLDEN_UPDATE") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}: run with GOLDEN_UPDATE=1 once and review it"
    assert json.loads(path.read_text()) == body, f"{path} differs (GOLDEN_UPDATE=1 rewrites it)"


def sent(fake: FakeUpstream, path: str, n: int = -1) -> dict[str, Any]:
    body = fake.requests_to(path)[n].json
    assert isinstance(body, dict)
    return body
