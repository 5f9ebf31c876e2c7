"""The virtual keys, teams and customers in force, indexed for the request path (a dict lookup per call)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Customer, Team, VirtualKey


@dataclass
class Directory:
    keys_by_hash: dict[str, VirtualKey] = field(default_factory=dict)
    keys: dict[str, VirtualKey] = field(default_factory=dict)
    key_hashes: dict[str, str] = field(default_factory=dict)  # key id -> value hash
    teams: dict[str, Team] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    created: dict[str, float] = field(default_factory=dict)  # "vk:<id>" / "team:<id>" / "customer:<id>" -> time
    version: int = 0  # bumped by every change, so that what was derived from the entries is derived again

    def changed(self) -> None:
        self.version += 1

    def anchor(self, scope: str) -> float:
        """Where an entry's non-calendar budget periods start counting: when it was created."""
        return self.created.get(scope, 0.0)

    def put_key(self, key: VirtualKey, value_hash: str) -> None:
        self.remove_key(key.id)
        self.changed()
        self.keys[key.id] = key
        self.key_hashes[key.id] = value_hash
        self.keys_by_hash[value_hash] = key

    def remove_key(self, key_id: str) -> bool:
        key = self.keys.pop(key_id, None)
        self.changed()
        value_hash = self.key_hashes.pop(key_id, None)
        if value_hash is not None:
            self.keys_by_hash.pop(value_hash, None)
        return key is not None

    def customer_of(self, key: VirtualKey) -> Customer | None:
        customer_id = key.customer_id
        if customer_id is None and key.team_id in self.teams:
            customer_id = self.teams[key.team_id].customer_id
        return self.customers.get(customer_id) if customer_id else None
