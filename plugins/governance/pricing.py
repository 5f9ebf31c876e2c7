"""What a call costs: a bundled price table for current Anthropic and OpenAI models, overridable by
`governance.pricing` ("provider/model" -> USD per token). Dated model names match their undated entry
(`claude-sonnet-4-5-20250929` costs what `claude-sonnet-4-5` costs); `provider/*` prices a whole provider."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.api import anthropic as a

from .config import Price

PER_MTOK = 1e-6
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
    def __init__(self, overrides: Mapping[str, Price]) -> None:
        self._prices = {**BUNDLED, **overrides}
        self._found: dict[str, Price | None] = {}  # lookups, remembered (the prefix search scans the table)

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
