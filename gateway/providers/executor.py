"""Runs a call on one target: waits for the provider's gate, picks a key, calls the provider, and retries what
is worth retrying (up to `network_config.max_retries` times, exponential backoff with jitter)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, TypeVar

import msgspec

from ..config import NetworkConfig, ProviderKey
from ..context import trail
from ..errors import InvalidRequest, NotFound, UpstreamError
from ..routing import check_model_name
from ..tokens import DEFAULT as DEFAULT_MEDIA_RULES
from ..tokens import MediaRules
from .body import relayable
from .gate import Gate
from .health import Health, ProviderHealth
from .keys import SESSION, KeyChooser, Sessions, session_ttl
from .upstream import ATTEMPT_HEADERS

if TYPE_CHECKING:
    from ..call import ChatCall, ChatResult, Chunk, Dialect, Target
    from ..context import CallContext
    from .base import Provider
    from .shared import SharedState

T = TypeVar("T")
NO_KEY = ProviderKey(name="", value="")
# A retry-after longer than this is not waited out here: the client gets the 429 and its own retry-after.
MAX_WAIT_S = 30.0
REFUSED = frozenset({401, 402, 403})


@dataclass(frozen=True, slots=True)
class OpenStream:
    first: Chunk
    rest: AsyncIterator[Chunk]
    release: Callable[[], None]


class Providers:
    """The provider instances of one app, by configured name, with their gates and the sticky sessions."""

    def __init__(self, instances: dict[str, Provider], rng: random.Random | None = None):
        self.instances = instances
        self._rng = rng or random.Random()
        self.sessions = Sessions()
        self.shared: SharedState | None = None  # sessions and dead-key marks on Redis (the `redis` section)
        self._gates = {name: Gate(name, p.setup.config.concurrency_and_buffer_size) for name, p in instances.items()}
        self.health = Health({name: p.setup.config.keys for name, p in instances.items()})

    def health_of(self, mask: Callable[[str], str]) -> list[ProviderHealth]:
        """Every provider's health, as `GET /api/providers/health` shows it (`mask` hides secrets in errors)."""
        return [self.health.snapshot(name, gate.state(), mask) for name, gate in self._gates.items()]

    def media_rules(self, target: Target) -> MediaRules:
        """How the target's upstream counts media (the gateway's default for providers that do not say)."""
        provider = self.instances.get(target.provider)
        rules = getattr(provider, "media_rules", None)  # optional for third-party providers
        return rules(target.model) if rules is not None else DEFAULT_MEDIA_RULES

    def wire_dialect(self, target: Target) -> Dialect | None:
        """The client dialect the target's provider speaks upstream (None when it is not one of them)."""
        provider = self.instances.get(target.provider)
        return provider.dialect if provider is not None else None

    def get(self, name: str) -> Provider:
        provider = self.instances.get(name)
        if provider is None:
            raise NotFound(f"provider {name!r} is not configured")
        return provider

    async def complete(self, call: ChatCall, ctx: CallContext, *, gated: bool = True) -> ChatResult:
        """`gated=False`: the caller already holds a slot of this provider for the same call."""
        provider, target = self._resolve(call)

        async def attempt(key: ProviderKey) -> ChatResult:
            with attempt_headers(call):
                return await provider.complete(_for_key(call, key), key, ctx)

        if not gated:
            return await self._with_retries(provider, target, ctx, attempt)
        gate = self._gates[target.provider]
        await gate.acquire()
        try:
            return await self._with_retries(provider, target, ctx, attempt)
        finally:
            gate.release()

    async def count_tokens(self, call: ChatCall, ctx: CallContext) -> int:
        provider, target = self._resolve(call)
        return await self._with_retries(
            provider, target, ctx, lambda key: provider.count_tokens(_for_key(call, key), key, ctx)
        )

    async def open_stream(self, call: ChatCall, ctx: CallContext, *, gated: bool = True) -> OpenStream:
        """Start a stream, retrying until its first chunk arrives; after that, failures are the stream's.

        The caller must close `rest` and then call `release` (the provider's slot is held until then); a
        callback rather than a wrapping generator, since every layer costs each chunk a hop. `gated=False`: the
        caller already holds a slot of this provider for the same call (`release` is then a no-op).
        """
        provider, target = self._resolve(call)

        async def first_chunk(key: ProviderKey) -> tuple[Chunk, AsyncIterator[Chunk]]:
            stream = provider.stream(_for_key(call, key), key, ctx)
            try:
                with attempt_headers(call):  # the request goes out before the first chunk
                    return await anext(stream), stream
            except BaseException:
                await _close(stream)
                raise

        if not gated:
            first, rest = await self._with_retries(provider, target, ctx, first_chunk)
            return OpenStream(first=first, rest=rest, release=_nothing)
        gate = self._gates[target.provider]
        await gate.acquire()
        try:
            first, rest = await self._with_retries(provider, target, ctx, first_chunk)
        except BaseException:
            gate.release()
            raise
        return OpenStream(first=first, rest=rest, release=gate.release)

    def _resolve(self, call: ChatCall) -> tuple[Provider, Target]:
        assert call.target is not None, "a call reaches a provider only after routing"
        if not _tail_of(call.target.model, call.model):  # a plugin's route: the name goes into URLs and headers
            check_model_name(call.target.model)
        provider = self.get(call.target.provider)
        if call.translation_error is not None and not relayable(call, provider.dialect):
            raise call.translation_error  # only a provider of the client's dialect can serve this body
        return provider, call.target

    async def _with_retries(
        self, provider: Provider, target: Target, ctx: CallContext, attempt: Callable[[ProviderKey], Awaitable[T]]
    ) -> T:
        """Retry rules: 5xx and connection errors back off and retry on the same key; 429 moves to another key
        and backs off (retry-after honoured); 401/402/403 mark the key dead for this call and move on at once
        (none left: 502 naming the provider); other errors go back as they are."""
        network = provider.setup.config.network_config
        name, health = target.provider, self.health
        keys = KeyChooser(
            provider.setup.config.keys, target.model, ctx.headers, self._rng, lambda k: health.is_dead(name, k)
        )
        session = f"{target.provider}/{ctx.headers[SESSION]}" if SESSION in ctx.headers else None
        key = keys.first(await self._sticky(session) if session else None) or self._no_key(provider, target)
        retry = 0
        while True:
            trail(ctx).attempts += 1
            try:
                result = await attempt(key)
            except UpstreamError as exc:
                refused = exc.status in REFUSED and provider.requires_keys
                health.failed(name, key, exc.status, f"{exc.kind}: {exc.message}", refused=refused)
                if refused and self.shared is not None and (label := health.label(name, key)):
                    self.shared.refused(name, label)  # every other gateway skips it too
                if refused:
                    key = keys.kill_current() or _all_refused(target, exc)
                    continue
                delay = _retry_delay(exc, retry, network, self._rng)
                if delay is None:
                    raise
                if exc.status == 429:
                    key = keys.rotate() or key
                retry += 1
                await asyncio.sleep(delay)
                continue
            health.answered(name, key)
            if session is not None and key.name:
                await self._stick(session, key.name, session_ttl(ctx.headers))
            return result

    async def _sticky(self, session: str) -> str | None:
        if self.shared is None:
            return self.sessions.get(session, monotonic())
        return await self.shared.sticky(session)

    async def _stick(self, session: str, key_name: str, ttl_s: float) -> None:
        if self.shared is None:
            self.sessions.put(session, key_name, monotonic() + ttl_s)
        else:
            await self.shared.stick(session, key_name, ttl_s)

    def _no_key(self, provider: Provider, target: Target) -> ProviderKey:
        if provider.requires_keys:
            raise InvalidRequest(f"no key of provider {target.provider!r} allows model {target.model!r}", param="model")
        return NO_KEY


@contextlib.contextmanager
def attempt_headers(call: ChatCall) -> Iterator[None]:
    """`call.upstream_headers` on the requests made inside (see `upstream.ATTEMPT_HEADERS`); none: nothing set."""
    if not call.upstream_headers:
        yield
        return
    token = ATTEMPT_HEADERS.set(call.upstream_headers)
    try:
        yield
    finally:
        ATTEMPT_HEADERS.reset(token)


def _for_key(call: ChatCall, key: ProviderKey) -> ChatCall:
    """The call as `key` sends it: a key's `aliases` name the model id (or deployment) it serves a model as."""
    target = call.target
    if target is None or not key.aliases:
        return call
    model = key.upstream_model(target.model)
    if model == target.model:
        return call
    return msgspec.structs.replace(call, target=msgspec.structs.replace(target, model=model))


def _tail_of(model: str, client_model: str) -> bool:
    """`model` is the client's model string or its last `/`-separated segments (checked when it was decoded)."""
    if not model or not client_model.endswith(model):
        return False
    return len(client_model) == len(model) or client_model[-len(model) - 1] == "/"


def _all_refused(target: Target, exc: UpstreamError) -> ProviderKey:
    raise UpstreamError(
        f"every key of provider {target.provider!r} was refused by the upstream (last: {exc.status} {exc.message})",
        status=502,
        kind="api_error",
    )


def _retry_delay(exc: UpstreamError, retry: int, network: NetworkConfig, rng: random.Random) -> float | None:
    """Seconds to wait before the next attempt, or None when the error must go back to the client."""
    if not exc.retryable or retry >= network.max_retries:
        return None
    wait: float | None = exc.retry_after
    if wait is not None:
        return wait if wait <= MAX_WAIT_S else None
    backoff_ms = float(min(network.backoff_initial_ms << retry, network.backoff_max_ms))
    return backoff_ms / 1000 * rng.uniform(0.8, 1.2)


async def _close(stream: AsyncIterator[Chunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def _nothing() -> None:
    pass
