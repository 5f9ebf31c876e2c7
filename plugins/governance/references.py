"""Bifrost's by-id governance: `governance.budgets[]` and `governance.rate_limits[]`, referenced by `budget_id` /
`rate_limit_id` from virtual keys, their provider configs, teams and customers, or (Bifrost v2) a budget naming
its owner (`virtual_key_id`, `team_id`, `customer_id`, `provider_config_id`).

They are resolved once, when the config is loaded, into the inline `budgets` / `rate_limit` that the meters
read, each keeping its id, so that everything referencing one budget spends from one meter as in Bifrost.
An id that names nothing is a config error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from .config import Budget, Customer, KeyProviderConfig, RateLimit, Team, VirtualKey

if TYPE_CHECKING:
    from .config import GovernanceConfig

E = TypeVar("E", VirtualKey, Team, Customer, KeyProviderConfig)
Referrer = VirtualKey | Team | Customer | KeyProviderConfig
OWNERS = ("virtual_key_id", "team_id", "customer_id", "provider_config_id")


def reference_errors(config: GovernanceConfig) -> list[str]:
    sections = (("budgets", [b.id for b in config.budgets]), ("rate_limits", [r.id for r in config.rate_limits]))
    errors = [
        f"$.governance.{section}: id {entry_id!r} is used {count} times"
        for section, ids in sections
        for entry_id, count in Counter(ids).items()
        if count > 1
    ]
    budgets = {b.id for b in config.budgets}
    limits = {r.id for r in config.rate_limits}
    for path, entry in _referrers(config):
        errors += _entry_errors(path, entry, budgets, limits)
    known: dict[str, set[Any]] = {
        "virtual_key_id": {k.id for k in config.virtual_keys},
        "team_id": {t.id for t in config.teams},
        "customer_id": {c.id for c in config.customers},
        "provider_config_id": {p.id for k in config.virtual_keys for p in k.provider_configs if p.id is not None},
    }
    for i, budget in enumerate(config.budgets):
        owners = [(name, getattr(budget, name)) for name in OWNERS if getattr(budget, name) is not None]
        if len(owners) > 1:
            errors.append(f"$.governance.budgets[{i}]: set at most one owner ({', '.join(n for n, _ in owners)})")
        errors += [
            f"$.governance.budgets[{i}].{name}: no {name.removesuffix('_id').replace('_', ' ')} has id {value!r}"
            for name, value in owners
            if value not in known[name]
        ]
    return errors


def _entry_errors(path: str, entry: Referrer, budgets: set[str], limits: set[str]) -> list[str]:
    errors = []
    if entry.budget_id is not None and entry.budget_id not in budgets:
        errors.append(f"{path}.budget_id: no budget in governance.budgets has id {entry.budget_id!r}")
    if entry.rate_limit_id is not None:
        if entry.rate_limit_id not in limits:
            errors.append(
                f"{path}.rate_limit_id: no rate limit in governance.rate_limits has id {entry.rate_limit_id!r}"
            )
        elif entry.rate_limit is not None and entry.rate_limit.id != entry.rate_limit_id:
            errors.append(f"{path}: set rate_limit or rate_limit_id, not both")
    return errors


def _referrers(config: GovernanceConfig) -> Iterator[tuple[str, Referrer]]:
    for i, key in enumerate(config.virtual_keys):
        yield f"$.governance.virtual_keys[{i}]", key
        for j, provider_config in enumerate(key.provider_configs):
            yield f"$.governance.virtual_keys[{i}].provider_configs[{j}]", provider_config
    for i, team in enumerate(config.teams):
        yield f"$.governance.teams[{i}]", team
    for i, customer in enumerate(config.customers):
        yield f"$.governance.customers[{i}]", customer


def resolve(config: GovernanceConfig) -> GovernanceConfig:
    """Attach the by-id budgets and rate limits (the config must have no reference_errors)."""
    by_id = Resolver(config)
    return msgspec.structs.replace(
        config,
        virtual_keys=[by_id.key(k) for k in config.virtual_keys],
        teams=[by_id.entry(t, "team_id", t.id) for t in config.teams],
        customers=[by_id.entry(c, "customer_id", c.id) for c in config.customers],
    )


class Resolver:
    """Attaches by-id budgets and rate limits to one entry; also used for entries created by the admin API."""

    def __init__(self, config: GovernanceConfig) -> None:
        self.budgets = {b.id: b for b in config.budgets}
        self.limits = {r.id: r.rate_limit() for r in config.rate_limits}

    def key(self, key: VirtualKey) -> VirtualKey:
        key = self.entry(key, "virtual_key_id", key.id)
        configs = [
            self.entry(c, "provider_config_id", c.id) if c.id is not None else self.entry(c, "", None)
            for c in key.provider_configs
        ]
        return msgspec.structs.replace(key, provider_configs=configs)

    def entry(self, entry: E, owner_field: str, owner: object) -> E:
        """`entry` with its budgets: its inline ones, its `budget_id`'s and those naming it as their owner."""
        inline = [b for b in entry.budgets if b.id is None or b.id not in self.budgets]  # resolving twice is a no-op
        owned = [b for b in self.budgets.values() if owner is not None and getattr(b, owner_field, None) == owner]
        chosen = [self.budgets[entry.budget_id]] if entry.budget_id in self.budgets else []
        chosen += [b for b in owned if b not in chosen]
        budgets: list[Budget] = inline + [b.budget() for b in chosen]
        rate_limit: RateLimit | None = entry.rate_limit
        if entry.rate_limit_id is not None:
            rate_limit = self.limits.get(entry.rate_limit_id, rate_limit)
        return msgspec.structs.replace(entry, budgets=budgets, rate_limit=rate_limit)

    def unknown(self, entry: VirtualKey | Team | Customer) -> list[str]:
        """The dangling ids of an entry sent to the admin API."""
        return _entry_errors(type(entry).__name__, entry, set(self.budgets), set(self.limits))
