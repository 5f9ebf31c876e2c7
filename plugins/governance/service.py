"""Governance on the request path: who calls (virtual keys), where they may go, and what they may spend."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from aiohttp import web

from gateway import (
    AuthenticationFailed,
    CallContext,
    ChatCall,
    McpClientGrant,
    PaymentRequired,
    PermissionDenied,
    Principal,
    RateLimited,
    RoutePlan,
    Target,
)
from gateway.api import CATALOG, Price, PriceTable, estimate, explicit_target, prompt_size, upper_bound
from gateway.api import anthropic as a

from .config import GovernanceConfig, KeyProviderConfig, VirtualKey
from .directory import Directory
from .ledger import Clock, Counters, Ledger, Meter, Reservation
from .meters import MeterSet, key_request_meters, meter_set
from .store import key_hash

KIND = "virtual_key"
MAX_METER_SETS = 10_000
PREFIX = "sk-bf-"
BEARER = "bearer "


@dataclass
class CallState:
    """Governance's per-call state (ctx.state(CallState))."""

    key: VirtualKey | None = None
    reservation: Reservation | None = None
    price: Price | None = None


@dataclass
class Governance:
    config: GovernanceConfig
    enforce_auth: bool
    prices: PriceTable = field(default_factory=PriceTable)  # the app's (price_table(app)), with governance.pricing
    clock: Clock = time.time
    rng: random.Random = field(default_factory=random.Random)
    directory: Directory = field(default_factory=Directory)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.now)
        self.counters: Counters = self.ledger  # SharedCounters over it when the `redis` section is set
        self.prices.override(self.config.pricing)
        self._meter_sets: dict[tuple[int, str, int], MeterSet] = {}

    def now(self) -> float:
        return self.clock()

    def set_clock(self, clock: Clock) -> None:
        """Tests move time with an injected clock; budgets, limits and expiry all read it."""
        self.clock = clock

    # --- authenticate --------------------------------------------------------------------------------------

    def authenticate(self, request: web.Request, ctx: CallContext) -> Principal | None:
        value = virtual_key_of(request)
        if value is None:
            if self.enforce_auth and self.in_use:
                raise AuthenticationFailed("a virtual key is required: send it as x-bf-vk or Authorization: Bearer")
            if self.config.default_virtual_key is None:
                return None
            key = self.directory.keys.get(self.config.default_virtual_key)
            if key is None:  # fail closed: the operator asked for such calls to be governed
                raise AuthenticationFailed("a virtual key is required (the gateway's default virtual key is gone)")
        else:
            key = self.directory.keys_by_hash.get(key_hash(value))
            if key is None:
                raise AuthenticationFailed("invalid virtual key")
        self._check_usable(key)
        ctx.state(CallState).key = key
        return Principal(
            id=key.id,
            name=key.name,
            kind=KIND,
            team=key.team_id,
            mcp_configs=_grants(key),
            disable_content_logging=key.disable_content_logging,
        )

    def _check_usable(self, key: VirtualKey) -> None:
        if not key.is_active:
            raise PermissionDenied(f"virtual key '{key.name}' is inactive")
        expires = key.expires()
        if expires is not None and expires <= self.now():
            raise PermissionDenied(f"virtual key '{key.name}' has expired")

    def key_of(self, ctx: CallContext) -> VirtualKey | None:
        """The call's virtual key: from authentication, or, for an async job run later, from its principal (the
        key must still exist and be usable then)."""
        state = ctx.state(CallState)
        if state.key is None and ctx.principal is not None and ctx.principal.kind == KIND:
            key = self.directory.keys.get(ctx.principal.id)
            if key is None:
                raise AuthenticationFailed("the virtual key that submitted this call no longer exists")
            self._check_usable(key)
            state.key = key
        return state.key

    @property
    def in_use(self) -> bool:
        """Governance is in use once keys exist or the admin API is open; until then any client key counts
        as a key for `enforce_auth_on_inference` (the client_keys plugin)."""
        auth = self.config.auth_config
        return bool(self.directory.keys) or bool(auth.admin_token) or (auth.is_enabled and bool(auth.admin_password))

    # --- route: the key's providers --------------------------------------------------------------------------

    def route(self, call: ChatCall, ctx: CallContext) -> RoutePlan | None:
        key = self.key_of(ctx)
        if key is None:
            return None
        target = explicit_target(call.model, ctx.settings)
        if target is not None:
            self._config_allowing(key, target.provider, target.model)
            return RoutePlan(targets=(target,))
        return self._plan_bare(key, call.model, ctx)

    def _config_allowing(self, key: VirtualKey, provider: str, model: str) -> KeyProviderConfig:
        """The key's config for the provider, or a 403 naming what is not allowed."""
        config = next((c for c in key.provider_configs if c.provider == provider), None)
        if config is None:
            raise PermissionDenied(f"provider '{provider}' is not allowed for virtual key '{key.name}'")
        if not config.allows(model):
            raise PermissionDenied(
                f"model '{model}' of provider '{provider}' is not allowed for virtual key '{key.name}'"
            )
        return config

    def _plan_bare(self, key: VirtualKey, model: str, ctx: CallContext) -> RoutePlan:
        configs = [c for c in key.provider_configs if c.allows(model) and c.provider in ctx.settings.providers]
        if not configs:
            raise PermissionDenied(f"model '{model}' is not allowed for virtual key '{key.name}'")
        open_configs = [c for c in configs if not self._exhausted(key, c)] or configs  # spent ones drop out
        first = self.rng.choices(open_configs, weights=[c.weight for c in open_configs])[0]
        rest = sorted((c for c in open_configs if c is not first), key=lambda c: -c.weight)
        return RoutePlan(targets=tuple(Target(c.provider, model) for c in (first, *rest)))

    # --- each attempt: reserve; after the call: settle -------------------------------------------------------

    async def reserve(self, call: ChatCall, ctx: CallContext) -> None:
        """Hold the attempt's worst case (its prompt and max_tokens, at its model's prices) at every level.

        The prompt is first sized by its upper bound (no tokenizer: free); only when that does not fit is it
        counted (the tokenizer, off the event loop) and the reservation tried again with the count."""
        state = ctx.state(CallState)
        key, target = self.key_of(ctx), call.target
        if key is None or target is None:
            return
        first_attempt = state.reservation is None
        if state.reservation is not None:  # a fallback: the previous attempt failed and used nothing
            self.counters.release(state.reservation)
        meters = self._meters(key, self._config_allowing(key, target.provider, target.model))
        price = state.price = self._price(target) if meters.budgets else None
        size, rules = prompt_size(call), ctx.media_rules(target)
        max_out = _worst_output(call, ctx)
        try:
            state.reservation = await self.counters.admit(
                _amounts(call, meters, price, upper_bound(size, rules), first_attempt, max_out)
            )
        except (PaymentRequired, RateLimited):
            counted = await asyncio.to_thread(estimate, size, rules)
            amounts = _amounts(call, meters, price, counted, first_attempt, max_out)
            state.reservation = await self.counters.admit(amounts)
        ctx.on_unrecorded(lambda: self.counters.release(state.reservation) if state.reservation else None)

    async def count_request(self, ctx: CallContext) -> None:
        """A cache answered, or the gateway runs a tool for the caller: the call counts against the request rate
        limits of its key, team and customer (429 when one is used up), and spends nothing."""
        key = self.key_of(ctx)
        if key is None:
            return
        meters = key_request_meters(self.ledger, self.directory, key)
        if meters:
            await self.counters.admit([(m, 1.0) for m in meters])  # counted at admission: nothing to settle

    def settle(self, usage: a.Usage, ctx: CallContext) -> None:
        state = ctx.state(CallState)
        if state.reservation is None:
            return
        tokens = usage.input_tokens + (usage.cache_read_input_tokens or 0)
        tokens += (usage.cache_creation_input_tokens or 0) + usage.output_tokens
        cost = self.prices.cost(state.price, usage) if state.price is not None else 0.0
        self.counters.settle(state.reservation, lambda meter: cost if meter.is_budget else float(tokens))

    # --- helpers -----------------------------------------------------------------------------------------------

    def _price(self, target: Target) -> Price:
        price = self.prices.price(target.provider, target.model)
        if price is None:
            raise PaymentRequired(
                f"no price is known for {target.provider}/{target.model}, so its budget cannot be enforced;"
                " add it to governance.pricing"
            )
        return price

    def _meters(self, key: VirtualKey, config: KeyProviderConfig) -> MeterSet:
        """The meters a call of `key` to `config`'s provider touches, resolved once per key, provider and
        directory version (a changed key is a new object; team and customer changes bump the version)."""
        cache_key = (id(key), config.provider, self.directory.version)
        found = self._meter_sets.get(cache_key)
        if found is None:
            if len(self._meter_sets) > MAX_METER_SETS:
                self._meter_sets.clear()
            found = self._meter_sets[cache_key] = meter_set(self.ledger, self.directory, key, config)
        return found

    def _exhausted(self, key: VirtualKey, config: KeyProviderConfig) -> bool:
        meters = self._meters(key, config)
        return any(self.ledger.exhausted(m) for m in (*meters.provider_budgets, *meters.requests))


def virtual_key_of(request: web.Request) -> str | None:
    """x-bf-vk (any value), or an `sk-bf-` value in Authorization: Bearer, x-api-key or x-goog-api-key."""
    headers = request.headers
    if vk := headers.get("x-bf-vk"):
        return vk.strip()
    authorization = headers.get("Authorization", "")
    if authorization[: len(BEARER)].lower() == BEARER:
        value = authorization[len(BEARER) :].strip()
        if value.startswith(PREFIX):
            return value
    for name in ("x-api-key", "x-goog-api-key"):
        value = headers.get(name, "").strip()
        if value.startswith(PREFIX):
            return value
    return None


def _grants(key: VirtualKey) -> tuple[McpClientGrant, ...]:
    """The key's mcp_configs as the principal carries them to the MCP plugin."""
    if not key.mcp_configs:
        return ()
    return tuple(
        McpClientGrant(mcp_client_name=c.mcp_client_name, tools_to_execute=tuple(c.tools_to_execute))
        for c in key.mcp_configs
    )


def _worst_output(call: ChatCall, ctx: CallContext) -> int:
    """The most output tokens the attempt can bill. A cap the gateway filled in (an OpenAI client set none) is sent
    only to Anthropic-wire upstreams, which require one; the others get no cap and the model writes up to its own
    limit, so that limit (the catalog's, when known) is the worst case. Bedrock, which is sent the cap, is reserved
    for the limit too: more than it can spend, never less."""
    cap = call.request.max_tokens if isinstance(call.request.max_tokens, int) else 0
    target = call.target
    if not call.max_tokens_defaulted or target is None or ctx.wire_dialect(target) == "anthropic":
        return cap
    info = ctx.app[CATALOG].lookup(target.provider, target.model)
    limit = info.max_output_tokens if info is not None else None
    return max(cap, limit or 0)


def _amounts(
    call: ChatCall, meters: MeterSet, price: Price | None, prompt: int, first_attempt: bool, max_out: int
) -> list[tuple[Meter, float]]:
    """What one attempt holds on each meter: a request, its tokens, and its worst-case cost."""
    amounts = [(meter, 1.0) for meter in meters.requests]
    if first_attempt:  # the key's request limit counts calls, not attempts; a denied call does not count
        amounts += [(meter, 1.0) for meter in meters.key_requests]
    amounts += [(meter, float(prompt + max_out)) for meter in meters.tokens]
    if price is not None:
        worst = prompt * price.input_cost_per_token + max_out * price.output_cost_per_token
        amounts += [(meter, worst) for meter in meters.budgets]
    return amounts
