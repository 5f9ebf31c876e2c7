"""What each benchmark scenario sends, per target.

Direct and proxy targets speak the upstream's own paths and bare model names; the gateway (and a baseline
checkout of it) gets its client routes and provider-prefixed model names, which it strips before calling the same
upstream, so all targets make the upstream produce identical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import msgspec

Api = Literal["openai", "anthropic"]
TARGETS = ("direct", "proxy", "gateway", "baseline")  # baseline: another checkout of the gateway (--baseline)
GATEWAYS = ("gateway", "baseline")

# A short but realistic chat turn (~1 KB), so that request parsing costs something without dominating.
_SYSTEM = "You are a concise assistant. Answer in one short paragraph and do not use lists or headings."
_PROMPT = (
    "Summarise the trade-offs between running an LLM gateway in front of several providers and calling each "
    "provider's API directly from application code. Consider latency, key management, observability, cost "
    "tracking, failover between providers, and the risk of translating between request formats. "
) * 3
_API_KEY = "sk-test"


@dataclass(frozen=True)
class Scenario:
    name: str
    api: Api
    stream: bool
    # Model names unknown to the catalog by default; --known-models runs catalog models (adaptation checks them).
    bare_model: str = ""

    def path(self, target: str) -> str:
        if self.api == "openai":
            return "/v1/chat/completions"
        return "/anthropic/v1/messages" if target in GATEWAYS else "/v1/messages"

    def model(self, target: str) -> str:
        bare = self.bare_model or ("gpt-x" if self.api == "openai" else "claude-x")
        return f"{self.api}/{bare}" if target in GATEWAYS else bare

    def body(self, target: str) -> str:
        request: dict[str, Any]
        if self.api == "anthropic":
            request = {
                "model": self.model(target),
                "max_tokens": 256,
                "system": _SYSTEM,
                "messages": [{"role": "user", "content": _PROMPT}],
            }
        else:
            request = {
                "model": self.model(target),
                "max_completion_tokens": 256,
                "messages": [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": _PROMPT}],
            }
        if self.stream:
            request["stream"] = True
            if self.api == "openai":
                request["stream_options"] = {"include_usage": True}
        return msgspec.json.encode(request).decode()

    def headers(self) -> dict[str, str]:
        if self.api == "anthropic":
            return {
                "Content-Type": "application/json",
                "X-Api-Key": _API_KEY,
                "Anthropic-Version": "2023-06-01",
            }
        return {"Content-Type": "application/json", "Authorization": f"Bearer {_API_KEY}"}

    def expect_tail(self) -> str:
        """Bytes the end of a complete, successful response must contain."""
        if not self.stream:
            return '"usage"'  # usage is the last field of both non-streaming bodies
        return "message_stop" if self.api == "anthropic" else "data: [DONE]"


KNOWN_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}  # within their limits: no rule fires
SCENARIOS = (
    Scenario("openai_json", "openai", stream=False),
    Scenario("anthropic_json", "anthropic", stream=False),
    Scenario("anthropic_stream", "anthropic", stream=True),
    Scenario("openai_stream", "openai", stream=True),
)


def gateway_config(upstream_origin: str) -> dict[str, Any]:
    """Gateway config pointing both providers at the fake upstream."""
    provider = {
        "keys": [{"name": "k", "value": _API_KEY, "models": ["*"]}],
        "network_config": {"base_url": upstream_origin},
    }
    return {"providers": {"anthropic": provider, "openai": provider}}
