"""Which meters (budgets and rate limits) apply to a call, at each level, and what a call reserves on them."""

from __future__ import annotations

from dataclasses import dataclass

from .config import Budget, KeyProviderConfig, RateLimit, VirtualKey
from .directory import Directory
from .ledger import Ledger, Meter


def budget_meters(ledger: Ledger, scope: str, label: str, budgets: list[Budget], anchor: float) -> list[Meter]:
    return [
        ledger.meter(
            Meter(
                # a budget of governance.budgets[] is one meter, whoever spends from it (Bifrost: one row)
                key=f"budget:id:{b.id}" if b.id else f"budget:{scope}:{i}",
                label=f"{b.reset_duration} budget '{b.id}' of {label}"
                if b.id
                else f"{b.reset_duration} budget of {label}",
                limit=b.max_limit,
                duration=b.reset_duration,
                is_budget=True,
                calendar_aligned=b.calendar_aligned,
                anchor=anchor,
            )
        )
        for i, b in enumerate(budgets)
    ]


def rate_meters(ledger: Ledger, scope: str, label: str, limit: RateLimit | None) -> tuple[list[Meter], list[Meter]]:
    """(request meters, token meters) of a rate limit."""
    if limit is None:
        return [], []
    if limit.id is not None:  # one of governance.rate_limits[]: shared by whatever references it
        scope, label = f"id:{limit.id}", f"{label} (rate limit '{limit.id}')"
    requests, tokens = [], []
    if limit.request_max_limit is not None:
        meter = Meter(
            key=f"requests:{scope}",
            label=f"request rate limit of {label}",
            limit=limit.request_max_limit,
            duration=limit.request_reset_duration,
            is_budget=False,
            counts_at_admission=True,
        )
        requests.append(ledger.meter(meter))
    if limit.token_max_limit is not None:
        meter = Meter(
            key=f"tokens:{scope}",
            label=f"token rate limit of {label}",
            limit=limit.token_max_limit,
            duration=limit.token_reset_duration,
            is_budget=False,
        )
        tokens.append(ledger.meter(meter))
    return requests, tokens


def key_level_budgets(ledger: Ledger, directory: Directory, key: VirtualKey) -> list[Meter]:
    """The budgets of the key, its team and its customer."""
    scope = f"vk:{key.id}"
    meters = budget_meters(ledger, scope, f"virtual key '{key.name}'", key.budgets, directory.anchor(scope))
    team = directory.teams.get(key.team_id) if key.team_id else None
    if team is not None:
        scope, label = f"team:{team.id}", f"team '{team.name or team.id}'"
        meters += budget_meters(ledger, scope, label, team.budgets, directory.anchor(scope))
    customer = directory.customer_of(key)
    if customer is not None:
        scope, label = f"customer:{customer.id}", f"customer '{customer.name or customer.id}'"
        meters += budget_meters(ledger, scope, label, customer.budgets, directory.anchor(scope))
    return meters


def provider_scope(key: VirtualKey, config: KeyProviderConfig) -> tuple[str, str]:
    return f"vk:{key.id}/{config.provider}", f"provider '{config.provider}' of virtual key '{key.name}'"


@dataclass(frozen=True, slots=True)
class MeterSet:
    """Every meter one key's calls to one provider touch."""

    key_requests: list[Meter]  # the key's request limit: once per call
    requests: list[Meter]  # the provider config's request limit: once per attempt
    tokens: list[Meter]  # the key's and the provider config's token limits
    provider_budgets: list[Meter]
    budgets: list[Meter]  # provider config, key, team, customer


def meter_set(ledger: Ledger, directory: Directory, key: VirtualKey, config: KeyProviderConfig) -> MeterSet:
    key_scope, key_label = f"vk:{key.id}", f"virtual key '{key.name}'"
    scope, label = provider_scope(key, config)
    key_requests, key_tokens = rate_meters(ledger, key_scope, key_label, key.rate_limit)
    for owner_requests, owner_tokens in _owner_rate_meters(ledger, directory, key):
        key_requests += owner_requests
        key_tokens += owner_tokens
    requests, tokens = rate_meters(ledger, scope, label, config.rate_limit)
    provider_budgets = budget_meters(ledger, scope, label, config.budgets, directory.anchor(key_scope))
    budgets = provider_budgets + key_level_budgets(ledger, directory, key)
    return MeterSet(
        _unique(key_requests), _unique(requests), _unique(key_tokens + tokens), _unique(provider_budgets),
        _unique(budgets),
    )  # fmt: skip


def key_request_meters(ledger: Ledger, directory: Directory, key: VirtualKey) -> list[Meter]:
    """The request rate limits of the key, its team and its customer: what a call counts against wherever it is
    served (a cached answer included)."""
    requests, _ = rate_meters(ledger, f"vk:{key.id}", f"virtual key '{key.name}'", key.rate_limit)
    for owner_requests, _ in _owner_rate_meters(ledger, directory, key):
        requests += owner_requests
    return _unique(requests)


def _owner_rate_meters(ledger: Ledger, directory: Directory, key: VirtualKey) -> list[tuple[list[Meter], list[Meter]]]:
    """The rate limits of the key's team and customer (Bifrost's `rate_limit_id` on them): per call."""
    team = directory.teams.get(key.team_id) if key.team_id else None
    customer = directory.customer_of(key)
    found = []
    if team is not None:
        found.append(rate_meters(ledger, f"team:{team.id}", f"team '{team.name or team.id}'", team.rate_limit))
    if customer is not None:
        label = f"customer '{customer.name or customer.id}'"
        found.append(rate_meters(ledger, f"customer:{customer.id}", label, customer.rate_limit))
    return found


def _unique(meters: list[Meter]) -> list[Meter]:
    """Each meter once: two levels referencing one rate limit or budget by id must not count a call twice."""
    return list({id(m): m for m in meters}.values())
