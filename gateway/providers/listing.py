"""Live model lists: for a provider whose keys allow "*", the models its upstream lists (`list_models`, see
base.ListsModels), merged after the models its keys name, and cached in aiocache.

Per provider the cache holds two entries: the last good list, without a TTL, so that it is served for as long as
the upstream is down; and a freshness mark whose TTL is `client.model_list_ttl_in_seconds`. A listing that finds
the mark gone serves the last good list at once and refreshes it in the background (one fetch at a time per
provider). Only listings that have no list yet wait for the upstream, and only until FIRST_WAIT_S after the
fetch began: a slow or broken upstream costs the client a shorter list, never an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from time import monotonic

from aiocache import SimpleMemoryCache  # type: ignore[import-untyped, unused-ignore]  # no types; plugin authors run mypy without our override
from msgspec import Struct

from ..config import ProviderKey
from .base import Provider, UpstreamModel

FIRST_WAIT_S = 5.0  # the longest a listing waits for a provider's first list; the fetch goes on after it
RETRY_S = 60.0  # after a failed fetch, the next one waits this long (or the TTL, when that is shorter)

log = logging.getLogger("gateway.models")


class Listing(Struct, frozen=True):
    """A provider's last good upstream list."""

    models: tuple[UpstreamModel, ...]


class ModelLists:
    """The app's model lists, by provider name (built with the providers, closed before their HTTP clients)."""

    def __init__(self, providers: Mapping[str, Provider], ttl: float) -> None:
        self._providers = providers
        self._ttl = ttl  # 0: no upstream lists at all
        self._cache = SimpleMemoryCache()
        self._fetches: dict[str, asyncio.Task[None]] = {}
        self._patience: dict[str, float] = {}  # until when listings wait for the fetch in flight (monotonic)

    async def models(self, name: str) -> list[UpstreamModel]:
        """What to list for provider `name`: the models its keys name, then its upstream's own (if it lists)."""
        provider = self._providers[name]
        named = [UpstreamModel(id=model) for model in provider.known_models()]
        if not self._lists(provider):
            return named
        last: Listing | None = await self._cache.get(_last(name))
        if not await self._cache.exists(_fresh(name)):
            fetch = self._refresh(name, provider)
            wait = self._patience[name] - monotonic()
            if last is None and wait > 0:  # later listings do not wait again for a fetch that hangs
                await asyncio.wait({fetch}, timeout=wait)  # does not cancel the fetch
                last = await self._cache.get(_last(name))
        return _merged(named, last.models if last is not None else ())

    async def close(self) -> None:
        """Stop the fetches in flight (the app is shutting down) and drop the lists."""
        tasks = [task for task in self._fetches.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for name in self._providers:  # one by one: aiocache's clear() would leave the TTL timers running
            await self._cache.delete(_fresh(name))
            await self._cache.delete(_last(name))

    def _lists(self, provider: Provider) -> bool:
        return self._ttl > 0 and bool(listing_keys(provider)) and getattr(provider, "list_models", None) is not None

    def _refresh(self, name: str, provider: Provider) -> asyncio.Task[None]:
        task = self._fetches.get(name)
        if task is None or task.done():
            task = asyncio.create_task(self._fetch(name, provider), name=f"model list of {name}")
            self._fetches[name] = task
            self._patience[name] = monotonic() + FIRST_WAIT_S
        return task

    async def _fetch(self, name: str, provider: Provider) -> None:
        try:
            models = await upstream_models(provider)
        except Exception as exc:  # a plugin's bug included: a listing never fails because of it
            log.warning("model list of %r failed (%s: %s); the last good list is served", name, _kind(exc), exc)
            await self._cache.set(_fresh(name), True, ttl=min(self._ttl, RETRY_S))
            return
        await self._cache.set(_last(name), Listing(models=tuple(models)))
        await self._cache.set(_fresh(name), True, ttl=self._ttl)


async def upstream_models(provider: Provider) -> list[UpstreamModel]:
    """The upstream's list as the first listing key that gets an answer sees it, less what that key refuses;
    the last key's error when none does."""
    list_models = getattr(provider, "list_models", None)
    if list_models is None:
        return []
    error: Exception | None = None
    for key in listing_keys(provider):
        try:
            models: list[UpstreamModel] | None = await list_models(key)
        except Exception as exc:  # the next key may be accepted
            error = exc
            continue
        return [model for model in models or () if key.allows(model.id)]
    if error is not None:
        raise error
    return []


def listing_keys(provider: Provider) -> list[ProviderKey]:
    """The keys that allow every model ("*"): only their upstream lists are worth listing."""
    config = provider.setup.config
    if not config.keys and not provider.requires_keys:
        return [ProviderKey()]  # a provider that runs without keys (ollama, vllm) lists with none
    return [key for key in config.keys if "*" in key.models]


def _merged(named: list[UpstreamModel], listed: tuple[UpstreamModel, ...]) -> list[UpstreamModel]:
    """The named models first (described by the upstream where it lists them too), then the upstream's others."""
    by_id = {model.id: model for model in listed}
    seen = {model.id for model in named}
    return [by_id.get(model.id, model) for model in named] + [model for model in listed if model.id not in seen]


def _last(name: str) -> str:
    return f"last:{name}"


def _fresh(name: str) -> str:
    return f"fresh:{name}"


def _kind(exc: Exception) -> str:
    return type(exc).__name__
