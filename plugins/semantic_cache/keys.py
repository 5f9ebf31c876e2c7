"""What a request asks of the cache (its headers, checked), and where its answer is kept (its keys).

Direct mode keys an answer by a hash of the normalized request: the model and provider (unless `cache_by_model`
/ `cache_by_provider` are false), messages, system (unless `exclude_system_prompt`), tools, tool choice and the
sampling and output parameters; never `stream`, `metadata` or headers. Entries are partitioned by the cache key
and by the caller (`ctx.principal`, e.g. the virtual key), so nothing is shared across tenants.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec
from msgspec import UNSET
from msgspec.structs import replace

from gateway import CallContext, ChatCall
from gateway.api import InvalidRequest
from gateway.api import anthropic as a

from .config import SemanticCacheConfig, parse_duration

KEY = "x-bf-cache-key"
TTL = "x-bf-cache-ttl"
THRESHOLD = "x-bf-cache-threshold"
TYPE = "x-bf-cache-type"
NO_STORE = "x-bf-cache-no-store"
_ENCODER = msgspec.json.Encoder()
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


class Ask(msgspec.Struct, frozen=True, kw_only=True):
    """One request's cache settings: its config's, overridden by its headers."""

    partition: str  # "<cache key hash>:<tenant hash>"
    key_hash: str
    ttl: float
    threshold: float
    modes: tuple[Literal["direct", "semantic"], ...]
    store: bool


def ask(call: ChatCall, ctx: CallContext, config: SemanticCacheConfig) -> Ask | None:
    """The request's cache settings, or None when the cache does not engage (no cache key, a long conversation).
    A malformed header is a 400 naming it, whether or not the cache would engage."""
    headers = ctx.headers
    ttl = _ttl(headers.get(TTL), config)
    threshold = _threshold(headers.get(THRESHOLD), config)
    modes = _modes(headers.get(TYPE), config)
    store = not _flag(headers.get(NO_STORE), NO_STORE)
    cache_key = headers.get(KEY) or config.default_cache_key
    if not cache_key or len(call.request.messages) > config.conversation_history_threshold:
        return None
    key_hash = key_digest(cache_key)
    tenant = ctx.principal.id if ctx.principal is not None else ""
    partition = f"{key_hash}:{_digest(tenant.encode())[:16]}"
    return Ask(partition=partition, key_hash=key_hash, ttl=ttl, threshold=threshold, modes=modes, store=store)


def key_digest(cache_key: str) -> str:
    """The cache key as it appears in stored keys (hashed: a key may carry a tenant's name)."""
    return _digest(cache_key.encode())[:24]


def request_digest(call: ChatCall, ctx: CallContext, config: SemanticCacheConfig) -> str:
    """Direct mode's key: the whole normalized request."""
    request = _normalized(call, ctx, config)
    if config.exclude_system_prompt:
        request = replace(request, system=UNSET)
    return _digest(_ENCODER.encode(request))[:32]


def params_digest(call: ChatCall, ctx: CallContext, config: SemanticCacheConfig) -> str:
    """Semantic mode's group: everything but the text compared (a similar question to another model or with
    other tools is another question)."""
    request = replace(_normalized(call, ctx, config), messages=[], system=UNSET)
    return _digest(_ENCODER.encode(request))[:16]


def _normalized(call: ChatCall, ctx: CallContext, config: SemanticCacheConfig) -> a.MessagesRequest:
    request = call.request
    provider, _, model = request.model.rpartition("/")
    model = model if config.cache_by_model else ""
    provider = (provider or ctx.route_prefix) if config.cache_by_provider else ""
    return replace(request, model=f"{provider}/{model}", stream=UNSET, metadata=UNSET, fallbacks=UNSET)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ttl(value: str | None, config: SemanticCacheConfig) -> float:
    if value is None:
        return config.ttl_seconds
    seconds = parse_duration(value)
    if seconds is None:
        raise InvalidRequest(f"{TTL}: {value!r} is not a duration (seconds, or like 30s, 5m, 1h)", param=TTL)
    return seconds


def _threshold(value: str | None, config: SemanticCacheConfig) -> float:
    if value is None:
        return config.threshold
    try:
        threshold = float(value)
    except ValueError:
        threshold = -1.0
    if not 0.0 <= threshold <= 1.0:
        raise InvalidRequest(f"{THRESHOLD}: {value!r} is not a number from 0 to 1", param=THRESHOLD)
    return threshold


def _modes(value: str | None, config: SemanticCacheConfig) -> tuple[Literal["direct", "semantic"], ...]:
    if value is None:
        return ("direct", "semantic") if config.semantic else ("direct",)
    kind = value.strip().lower()
    if kind == "direct":
        return ("direct",)
    if kind == "semantic":
        return ("semantic",) if config.semantic else ()
    raise InvalidRequest(f"{TYPE}: {value!r} is not direct or semantic", param=TYPE)


def _flag(value: str | None, name: str) -> bool:
    if value is None or value.strip().lower() in _FALSE:
        return False
    if value.strip().lower() in _TRUE:
        return True
    raise InvalidRequest(f"{name}: {value!r} is not true or false", param=name)
