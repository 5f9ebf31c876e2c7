"""What a call costs: the model catalog's prices (models.dev, see gateway.catalog), under overrides that plugins
add (governance adds `governance.pricing`: "provider/model" or "provider/*" -> USD per token). An override for
a model matches its dated names too (`claude-sonnet-4-5` prices `claude-sonnet-4-5-20250929`). One table per app
(`price_table(app)` in the plugin API): budgets, logs and metrics agree on every price."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated

from msgspec import Meta
from msgspec.structs import replace

from .call import Target
from .config import ConfigStruct
from .schemas import anthropic as a

if TYPE_CHECKING:
    from .catalog import Catalog

USD = Annotated[float, Meta(ge=0)]
MAX_REMEMBERED = 10_000
LONG_PROMPT = 200_000  # prompts above this many tokens cost `above_200k` where a model has such a tier


class Price(ConfigStruct, frozen=True):
    """USD per token."""

    input_cost_per_token: USD = 0.0
    output_cost_per_token: USD = 0.0
    cache_read_input_token_cost: USD | None = None  # default: a tenth of the input price (OpenAI's: half)
    cache_creation_input_token_cost: USD | None = None  # default: 1.25x the input price (a 5-minute write)
    # Anthropic's 1-hour cache writes (`usage.cache_creation.ephemeral_1h_input_tokens`); default 2x the input price.
    cache_creation_input_token_cost_above_1hr: USD | None = None
    above_200k: Price | None = None  # the whole call's prices when its prompt is over 200k tokens


# The mock provider is free unless the config says otherwise.
BUILT_IN: Mapping[str, Price] = {"mock/*": Price()}
# Provider kinds whose cached reads cost half the input price (OpenAI's rule; Anthropic's tenth is the default):
# what a configured price that names no cache read price gets.
HALF_PRICE_READS = frozenset({"openai", "azure"})


class PriceTable:
    def __init__(
        self,
        catalog: Catalog | None = None,
        overrides: Mapping[str, Price] | None = None,
        kind: Callable[[str], str] | None = None,  # a configured provider's kind (Settings.provider_kind)
    ) -> None:
        self._catalog = catalog
        self._kind = kind
        self._prices = {**BUILT_IN, **(overrides or {})}
        # Lookups remembered (the prefix search scans the table), at most MAX_REMEMBERED of them.
        self._remembered = functools.lru_cache(maxsize=MAX_REMEMBERED)(self._lookup)

    def override(self, prices: Mapping[str, Price]) -> None:
        """Add or replace prices ("provider/model" or "provider/*"), e.g. from a plugin's config at start-up."""
        self._prices.update(prices)
        self._remembered.cache_clear()

    def price(self, provider: str, model: str) -> Price | None:
        """The price of `model` at the configured `provider`: an override (the model, its longest dated-prefix
        entry, or `provider/*`), else the catalog's; None if nobody knows it."""
        return self._remembered(provider, model)

    def _lookup(self, provider: str, model: str) -> Price | None:
        prices = self._prices
        key = f"{provider}/{model}"
        if key in prices:
            return self._read_default(provider, prices[key])
        best = max((k for k in prices if key.startswith(k + "-")), key=len, default=None)
        if best is not None:
            return self._read_default(provider, prices[best])
        info = self._catalog.lookup(provider, model) if self._catalog is not None else None
        if info is not None and info.price is not None:
            return info.price
        found = prices.get(f"{provider}/*")
        return None if found is None else self._read_default(provider, found)

    def _read_default(self, provider: str, price: Price) -> Price:
        """A configured price without a cache read price: OpenAI's half of the input price for its kinds."""
        if price.cache_read_input_token_cost is not None or self._kind is None:
            return price
        try:
            kind = self._kind(provider)
        except KeyError:  # not a configured provider
            return price
        if kind not in HALF_PRICE_READS:
            return price
        return replace(price, cache_read_input_token_cost=price.input_cost_per_token * 0.5)

    def cost(self, price: Price, usage: a.Usage) -> float:
        """USD for a usage: uncached input, cache reads, 5-minute and 1-hour cache writes, and output, each at its
        own price (the long-prompt tier's when the prompt, cached parts included, is over 200k tokens and the
        model has one). Cache tokens are not in `input_tokens` (Anthropic's rule), so none is priced twice."""
        read_tokens = usage.cache_read_input_tokens or 0
        write_tokens = usage.cache_creation_input_tokens or 0
        if price.above_200k is not None and usage.input_tokens + read_tokens + write_tokens > LONG_PROMPT:
            price = price.above_200k
        hour_tokens = min(_hour_writes(usage), write_tokens)
        return (
            usage.input_tokens * price.input_cost_per_token
            + read_tokens * _or(price.cache_read_input_token_cost, price.input_cost_per_token * 0.1)
            + (write_tokens - hour_tokens)
            * _or(price.cache_creation_input_token_cost, price.input_cost_per_token * 1.25)
            + hour_tokens * _or(price.cache_creation_input_token_cost_above_1hr, price.input_cost_per_token * 2)
            + usage.output_tokens * price.output_cost_per_token
        )

    def cost_of(self, target: Target, usage: a.Usage) -> float | None:
        """What `usage` at `target` costs in USD; None when no price is known."""
        price = self.price(target.provider, target.model)
        return None if price is None else self.cost(price, usage)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _hour_writes(usage: a.Usage) -> int:
    """The cache writes made with `ttl: "1h"` (only Anthropic tells them apart; other writes are 5-minute ones)."""
    creation = usage.cache_creation
    return creation.ephemeral_1h_input_tokens if isinstance(creation, a.CacheCreation) else 0
