"""The `semantic_cache` plugin's config (`plugins[] {"name": "semantic_cache", "config": {...}}`), Bifrost's names.

Durations (`ttl`) are seconds or a string like `30s`, `5m`, `1h`, as Bifrost takes them; the per-request header
`x-bf-cache-ttl` reads the same forms.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Annotated, Literal

from msgspec import Meta, field

from gateway.api import ConfigStruct

LOCAL_MODEL = "local"  # `embedding_model` with no provider: the bundled model (embedders.LocalEmbedder)
LOCAL_DIMENSIONS = (64, 128, 256)  # it is 256 wide, and trained so that a prefix of 64 or 128 still works
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, None: 1.0}


def parse_duration(value: int | float | str) -> float | None:
    """Seconds from `300`, `"300"`, `"30s"`, `"5m"`, `"1h"`, `"1d"`; None when it is not one of those (or <= 0)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if match is None:
            return None
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    return seconds if seconds > 0 else None


class RedisStoreConfig(ConfigStruct, frozen=True):
    """Where the Redis server is: `addr` as `host:port` or a `redis://` URL (`env.REDIS_URL` allowed)."""

    addr: str = "127.0.0.1:6379"
    password: str | None = None  # or in the URL; never logged
    db: Annotated[int, Meta(ge=0)] = 0
    timeout: Annotated[float, Meta(gt=0)] = 0.5  # seconds a cache read or write may take before it is a miss


class CacheStore(ConfigStruct, frozen=True):
    """`memory` (the default: one process) or `redis` (entries shared by every gateway process)."""

    type: Literal["memory", "redis"] = "memory"
    config: RedisStoreConfig = field(default_factory=RedisStoreConfig)


class SemanticCacheConfig(ConfigStruct, frozen=True):
    # Semantic mode: the provider whose OpenAI-shape `POST /v1/embeddings` embeds requests with `embedding_model`,
    # or no provider and `embedding_model: "local"` (the bundled local model); neither: direct only.
    provider: str | None = None
    embedding_model: str | None = None
    dimension: Annotated[int, Meta(ge=1)] = 1  # Bifrost's: 1 means the model's own (and direct only in Bifrost)
    ttl: int | float | str = 300
    threshold: Annotated[float, Meta(ge=0, le=1)] = 0.8
    conversation_history_threshold: Annotated[int, Meta(ge=1)] = 3
    exclude_system_prompt: bool = False
    cache_by_model: bool = True
    cache_by_provider: bool = True
    default_cache_key: str | None = None
    vector_store_namespace: str = "BifrostSemanticCachePlugin"  # prefix of every stored key
    # None: the app's top-level `redis` section when there is one (entries shared by every gateway on it), else
    # memory; given, it is used as it is (`{"type": "memory"}` keeps a gateway with `redis` caching on its own).
    cache_store: CacheStore | None = None
    max_entries: Annotated[int, Meta(ge=1)] = 100_000  # semantic index entries per process (oldest dropped)

    @property
    def ttl_seconds(self) -> float:
        return parse_duration(self.ttl) or 300.0

    @property
    def local(self) -> bool:
        """Semantic mode on the bundled local model (no provider to call)."""
        return self.provider is None and self.embedding_model == LOCAL_MODEL

    @property
    def semantic(self) -> bool:
        return self.provider is not None or self.local

    def config_errors(self) -> list[str]:
        """Problems across fields, each path relative to this config (`gateway.plugins` puts it in place)."""
        errors = []
        if parse_duration(self.ttl) is None:
            errors.append(f".ttl: {self.ttl!r} is not a duration (seconds, or like 30s, 5m, 1h)")
        if self.provider is not None and not self.embedding_model:
            errors.append(".embedding_model: semantic mode (a provider) needs an embedding_model")
        if self.provider is None and self.embedding_model not in (None, LOCAL_MODEL):
            errors.append(
                f".embedding_model: {self.embedding_model!r} needs a provider to call; with none, the only model is"
                f" {LOCAL_MODEL!r} (the bundled local one)"
            )
        errors += self._local_errors()
        if (
            self.cache_store is not None
            and self.cache_store.type == "redis"
            and importlib.util.find_spec("redis") is None
        ):
            errors.append(".cache_store.type: redis needs the redis package (pip install 'llm-gateway[redis]')")
        return errors

    def _local_errors(self) -> list[str]:
        if not self.local:
            return []
        errors = []
        if importlib.util.find_spec("wordllama") is None:
            errors.append(
                ".embedding_model: the local model needs the wordllama package (pip install 'llm-gateway[semantic]')"
            )
        if self.dimension != 1 and self.dimension not in LOCAL_DIMENSIONS:
            errors.append(f".dimension: the local model's dimension is one of {', '.join(map(str, LOCAL_DIMENSIONS))}")
        return errors
