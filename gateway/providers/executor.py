"""Runs a call on one target: picks a key, calls the provider, retries what is worth retrying.

Retry policy (issue 2; refined per status in a later issue): 429, 5xx and connection errors are retried up to
`network_config.max_retries` times with exponential backoff and jitter, honouring the upstream's retry-after.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from ..config import NetworkConfig, ProviderKey
from ..errors import InvalidRequest, NotFound, UpstreamError
from .body import relayable

if TYPE_CHECKING:
    from ..call import ChatCall, ChatResult, Chunk, Target
    from ..pipeline.context import CallContext
    from .base import Provider

T = TypeVar("T")
NO_KEY = ProviderKey(name="", value="")
# A retry-after longer than this is not waited out here: the client gets the 429 and its own retry-after.
MAX_WAIT_S = 30.0


class Providers:
    """The provider instances of one app, by configured name."""

    def __init__(self, instances: dict[str, Provider], rng: random.Random | None = None) -> None:
        self.instances = instances
        self._rng = rng or random.Random()

    def get(self, name: str) -> Provider:
        provider = self.instances.get(name)
        if provider is None:
            raise NotFound(f"provider {name!r} is not configured")
        return provider

    def choose_key(self, provider: Provider, target: Target) -> ProviderKey:
        """Weighted random choice among the provider's keys whose `models` allow the model."""
        keys = [k for k in provider.setup.config.keys if k.allows(target.model)]
        if not keys:
            if not provider.requires_keys:
                return NO_KEY
            raise InvalidRequest(f"no key of provider {target.provider!r} allows model {target.model!r}", param="model")
        if len(keys) == 1:
            return keys[0]
        return self._rng.choices(keys, weights=[k.weight for k in keys])[0]

    async def complete(self, call: ChatCall, ctx: CallContext) -> ChatResult:
        provider, target = self._resolve(call)
        return await self._with_retries(provider, target, ctx, lambda key: provider.complete(call, key, ctx))

    async def count_tokens(self, call: ChatCall, ctx: CallContext) -> int:
        provider, target = self._resolve(call)
        return await self._with_retries(provider, target, ctx, lambda key: provider.count_tokens(call, key, ctx))

    async def open_stream(self, call: ChatCall, ctx: CallContext) -> tuple[Chunk, AsyncIterator[Chunk]]:
        """Start a stream, retrying until its first chunk arrives; after that, failures are the stream's.

        Returns the first chunk and the open stream of the rest (the caller must close it).
        """
        provider, target = self._resolve(call)

        async def first_chunk(key: ProviderKey) -> tuple[Chunk, AsyncIterator[Chunk]]:
            stream = provider.stream(call, key, ctx)
            try:
                return await anext(stream), stream
            except BaseException:
                await _close(stream)
                raise

        return await self._with_retries(provider, target, ctx, first_chunk)

    def _resolve(self, call: ChatCall) -> tuple[Provider, Target]:
        assert call.target is not None, "a call reaches a provider only after routing"
        provider = self.get(call.target.provider)
        if call.translation_error is not None and not relayable(call, provider.dialect):
            raise call.translation_error  # only a provider of the client's dialect can serve this body
        return provider, call.target

    async def _with_retries(
        self,
        provider: Provider,
        target: Target,
        ctx: CallContext,
        attempt: Callable[[ProviderKey], Awaitable[T]],
    ) -> T:
        network = provider.setup.config.network_config
        retry = 0
        while True:
            key = self.choose_key(provider, target)
            ctx.attempts += 1
            try:
                return await attempt(key)
            except UpstreamError as exc:
                delay = _retry_delay(exc, retry, network, self._rng)
                if delay is None:
                    raise
            retry += 1
            await asyncio.sleep(delay)


def _retry_delay(exc: UpstreamError, retry: int, network: NetworkConfig, rng: random.Random) -> float | None:
    """Seconds to wait before the next attempt, or None when the error must go back to the client."""
    if not exc.retryable or retry >= network.max_retries:
        return None
    wait: float | None = exc.retry_after
    if wait is not None:
        return wait if wait <= MAX_WAIT_S else None
    backoff_ms = float(min(network.retry_backoff_initial << retry, network.retry_backoff_max))
    return backoff_ms / 1000 * rng.uniform(0.8, 1.2)


async def _close(stream: AsyncIterator[Chunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
