"""What a call costs: a bundled price table for current Anthropic and OpenAI models, with overrides plugins add
(governance adds `governance.pricing`: "provider/model" -> USD per token). Dated model names match their undated
entry (`claude-sonnet-4-5-20250929` costs what `claude-sonnet-4-5` costs); `provider/*` prices a whole provider.
One table per app (`price_table(app)` in the plugin API): budgets, logs and metrics agree on every price."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated

from msgspec import Meta

from .call import Target
from .config import ConfigStruct
from .schemas import anthropic as a

PER_MTOK = 1e-6
USD = Annotated[float, Meta(ge=0)]


class Price(ConfigStruct, frozen=True):
    """USD per token."""

    input_cost_per_token: USD = 0.0
    output_cost_per_token: USD = 0.0
    cache_read_input_token_cost: USD | None = None  # default: a tenth of the input price
    cache_creation_input_token_cost: USD | None = None  # default: 1.25x the input price


MAX_REMEMBERED = 10_000


def _p(input_usd: float, output_usd: float, cached_usd: float | None = None, write_usd: float | None = None) -> Price:
    """Prices as published, in USD per million tokens."""
    return Price(
        input_cost_per_token=input_usd * PER_MTOK,
        output_cost_per_token=output_usd * PER_MTOK,
        cache_read_input_token_cost=None if cached_usd is None else cached_usd * PER_MTOK,
        cache_creation_input_token_cost=None if write_usd is None else write_usd * PER_MTOK,
    )


# Anthropic: cache reads cost 0.1x input, 5-minute cache writes 1.25x (the defaults of `Price`).
# OpenAI: cached input as published; writing the cache costs nothing extra.
BUNDLED: Mapping[str, Price] = MappingProxyType(
    {
        "anthropic/claude-opus-4-5": _p(5, 25),
        "anthropic/claude-opus-4-1": _p(15, 75),
        "anthropic/claude-opus-4": _p(15, 75),
        "anthropic/claude-sonnet-4-5": _p(3, 15),
        "anthropic/claude-sonnet-4": _p(3, 15),
        "anthropic/claude-3-7-sonnet": _p(3, 15),
        "anthropic/claude-haiku-4-5": _p(1, 5),
        "anthropic/claude-3-5-haiku": _p(0.8, 4),
        "openai/gpt-5": _p(1.25, 10, 0.125, 0),
        "openai/gpt-5-mini": _p(0.25, 2, 0.025, 0),
        "openai/gpt-5-nano": _p(0.05, 0.4, 0.005, 0),
        "openai/gpt-4.1": _p(2, 8, 0.5, 0),
        "openai/gpt-4.1-mini": _p(0.4, 1.6, 0.1, 0),
        "openai/gpt-4.1-nano": _p(0.1, 0.4, 0.025, 0),
        "openai/gpt-4o": _p(2.5, 10, 1.25, 0),
        "openai/gpt-4o-mini": _p(0.15, 0.6, 0.075, 0),
        "openai/o3": _p(2, 8, 0.5, 0),
        "openai/o4-mini": _p(1.1, 4.4, 0.275, 0),
        "mock/*": _p(0, 0),
    }
)


class PriceTable:
    def __init__(self, overrides: Mapping[str, Price] | None = None) -> None:
        self._prices = {**BUNDLED, **(overrides or {})}
        self._found: dict[str, Price | None] = {}  # lookups, remembered (the prefix search scans the table)

    def override(self, prices: Mapping[str, Price]) -> None:
        """Add or replace prices ("provider/model" or "provider/*"), e.g. from a plugin's config at start-up."""
        self._prices.update(prices)
        self._found.clear()

    def price(self, provider: str, model: str) -> Price | None:
        """The price of `provider/model`, its longest dated-prefix entry, or `provider/*`; None if unknown."""
        key = f"{provider}/{model}"
        if key not in self._found:
            if len(self._found) > MAX_REMEMBERED:
                self._found.clear()
            self._found[key] = self._lookup(provider, model)
        return self._found[key]

    def _lookup(self, provider: str, model: str) -> Price | None:
        prices = self._prices
        key = f"{provider}/{model}"
        if key in prices:
            return prices[key]
        best = max((k for k in prices if key.startswith(k + "-")), key=len, default=None)
        if best is not None:
            return prices[best]
        return prices.get(f"{provider}/*")

    def cost(self, price: Price, usage: a.Usage) -> float:
        """USD for a usage: uncached input, cache reads and writes, and output, each at its own price."""
        read = price.cache_read_input_token_cost
        write = price.cache_creation_input_token_cost
        read = price.input_cost_per_token * 0.1 if read is None else read
        write = price.input_cost_per_token * 1.25 if write is None else write
        return (
            usage.input_tokens * price.input_cost_per_token
            + (usage.cache_read_input_tokens or 0) * read
            + (usage.cache_creation_input_tokens or 0) * write
            + usage.output_tokens * price.output_cost_per_token
        )

    def cost_of(self, target: Target, usage: a.Usage) -> float | None:
        """What `usage` at `target` costs in USD; None when no price is known."""
        price = self.price(target.provider, target.model)
        return None if price is None else self.cost(price, usage)
