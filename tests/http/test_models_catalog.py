"""Model listings described by the model catalog: display names, release dates, limits (OpenAI extra fields)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.testing import ANTHROPIC_VERSION, MakeGateway

CONFIG: dict[str, Any] = {
    "providers": {
        "openai": {"keys": [{"value": "sk-o", "models": ["gpt-4o-mini", "in-house-model"]}]},
        "anthropic": {"keys": [{"value": "sk-a", "models": ["claude-sonnet-4-5-20250929"]}]},
    }
}
JULY_18_2024 = int(datetime(2024, 7, 18, tzinfo=UTC).timestamp())


async def test_openai_listing_has_release_dates_and_limits(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(CONFIG)
    async with gw.openai() as client:
        models = {m.id: m async for m in client.models.list()}
        single = await client.models.retrieve("openai/gpt-4o-mini")
    mini = models["openai/gpt-4o-mini"]
    assert mini.created == JULY_18_2024 and single.created == JULY_18_2024
    assert mini.model_extra == {"context_window": 128000, "max_output_tokens": 16384}
    unknown = models["openai/in-house-model"]
    assert unknown.created == 1735689600 and not unknown.model_extra  # the catalog does not know it


async def test_anthropic_listing_has_display_names_and_dates(make_gateway: MakeGateway) -> None:
    gw = await make_gateway(CONFIG)
    async with gw.anthropic() as client:
        page = await client.models.list()
        one = await client.models.retrieve("claude-sonnet-4-5-20250929")
    sonnet = next(m for m in page.data if m.id == "claude-sonnet-4-5-20250929")
    assert sonnet.display_name == one.display_name == "Claude Sonnet 4.5"
    assert sonnet.created_at == datetime(2025, 9, 29, tzinfo=UTC)
    async with gw.http() as http:
        answer = await http.get("/v1/models", headers={"anthropic-version": ANTHROPIC_VERSION})
    entry = next(m for m in answer.json()["data"] if m["id"] == "openai/in-house-model")
    assert entry["display_name"] == "openai/in-house-model" and entry["created_at"] == "2025-01-01T00:00:00Z"
