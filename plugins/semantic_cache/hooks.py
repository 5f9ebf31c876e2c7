"""The cache on the request path: gw_cache_lookup answers from it, gw_cache_store fills it (off the path).

Direct mode is tried first (one store read); semantic mode, when configured, embeds the request's text and looks
for the nearest stored answer of the same cache key, tenant and parameters. A hit skips routing and the provider
(the engine's rule for a gw_cache_lookup answer), so it costs nothing against budgets, and its answer carries the
usage of the call that filled the entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway import CallContext, ChatCall, ChatResult, hookimpl

from . import keys
from .config import SemanticCacheConfig
from .keys import Ask
from .semantic import Semantic
from .store import Entry, EntryStore

HIT = "x-bf-cache-hit"
ID = "x-bf-cache-id"
SIMILARITY = "x-bf-cache-similarity"
# Answers not worth replaying: cut short, refused, or not finished.
_NOT_STORED = frozenset({None, "max_tokens", "refusal", "pause_turn", "model_context_window_exceeded"})


@dataclass(slots=True)
class CallState:
    """What lookup learned about a call, for store to use."""

    ask: Ask | None = None
    digest: str = ""
    params: str = ""
    vector: list[float] | None = None
    hit: bool = False


class CacheHooks:
    def __init__(self, config: SemanticCacheConfig, store: EntryStore, semantic: Semantic | None) -> None:
        self.config = config
        self.store = store
        self.semantic = semantic

    def key(self, ask: Ask, digest: str) -> str:
        return f"{self.config.vector_store_namespace}:{ask.partition}.{digest}"

    @hookimpl
    async def gw_cache_lookup(self, call: ChatCall, ctx: CallContext) -> ChatResult | None:
        ask = keys.ask(call, ctx, self.config)
        if ask is None:
            return None
        state = ctx.state(CallState)
        state.ask = ask
        state.digest = keys.request_digest(call, ctx, self.config)
        if "direct" in ask.modes:
            entry = await self.store.get(self.key(ask, state.digest))
            if entry is not None:
                return self._hit(ctx, state, entry, f"{ask.partition}.{state.digest}", None)
        if "semantic" in ask.modes and self.semantic is not None:
            state.params = keys.params_digest(call, ctx, self.config)
            found = await self._nearest(call, ask, state)
            if found is not None:
                return self._hit(ctx, state, found[0], found[1], found[2])
        if ask.store:
            ctx.assemble_stream = True  # a streamed answer is assembled for gw_cache_store
        return None

    async def _nearest(self, call: ChatCall, ask: Ask, state: CallState) -> tuple[Entry, str, float] | None:
        assert self.semantic is not None
        state.vector = await self.semantic.embed(call, self.config.exclude_system_prompt)
        if state.vector is None:
            return None  # an embedding failure is a miss
        for cache_id, similarity in self.semantic.index.search(
            f"{ask.partition}|{state.params}", state.vector, ask.threshold
        ):
            entry = await self.store.get(f"{self.config.vector_store_namespace}:{cache_id}")
            if entry is not None:
                return entry, cache_id, similarity
            self.semantic.index.remove(cache_id)  # expired or cleared: not a candidate any more
        return None

    def _hit(
        self, ctx: CallContext, state: CallState, entry: Entry, cache_id: str, similarity: float | None
    ) -> ChatResult:
        state.hit = True
        ctx.set_header(HIT, "direct" if similarity is None else "semantic")
        ctx.set_header(ID, cache_id.replace(":", "."))
        if similarity is not None:
            ctx.set_header(SIMILARITY, f"{similarity:.4f}")
        return ChatResult(message=entry.message)

    @hookimpl
    async def gw_cache_store(self, call: ChatCall, result: ChatResult, ctx: CallContext) -> None:
        state = ctx.state(CallState)
        ask = state.ask
        if ask is None or state.hit or not ask.store or result.message.stop_reason in _NOT_STORED:
            return
        now = time.time()
        target = call.target
        entry = Entry(
            message=result.message,
            created=now,
            expires_at=now + ask.ttl,
            provider=target.provider if target is not None else "",
            model=target.model if target is not None else "",
        )
        stored = await self.store.set(self.key(ask, state.digest), entry, ask.ttl)
        if stored and state.vector is not None and self.semantic is not None:
            cache_id = f"{ask.partition}.{state.digest}"
            self.semantic.index.add(f"{ask.partition}|{state.params}", cache_id, state.vector, entry.expires_at)
