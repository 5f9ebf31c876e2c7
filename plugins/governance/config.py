"""Governance config, with Bifrost's names: virtual keys, teams, customers, budgets, rate limits, pricing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from msgspec import Meta, field

from gateway import ConfigStruct, Price

from .durations import Duration

USD = Annotated[float, Meta(ge=0)]


class Budget(ConfigStruct, frozen=True):
    max_limit: USD  # USD per period
    reset_duration: Duration = "1M"
    calendar_aligned: bool = False  # reset at UTC boundaries (midnight, Monday, the 1st, Jan 1st)


class RateLimit(ConfigStruct, frozen=True):
    request_max_limit: Annotated[int, Meta(gt=0)] | None = None
    request_reset_duration: Duration = "1m"
    token_max_limit: Annotated[int, Meta(gt=0)] | None = None
    token_reset_duration: Duration = "1m"


class KeyProviderConfig(ConfigStruct, frozen=True):
    provider: str
    weight: Annotated[float, Meta(gt=0)] = 1.0
    allowed_models: list[str] = field(default_factory=lambda: ["*"])
    budgets: list[Budget] = field(default_factory=list)
    rate_limit: RateLimit | None = None

    def allows(self, model: str) -> bool:
        return "*" in self.allowed_models or model in self.allowed_models


class VirtualKey(ConfigStruct, frozen=True):
    """A virtual key. `expires_at` without a zone is read as UTC."""

    id: str
    name: str
    value: str  # sk-bf-...; stored only as a hash
    description: str = ""
    is_active: bool = True
    expires_at: datetime | None = None  # RFC 3339; without a zone it is UTC
    team_id: str | None = None
    customer_id: str | None = None
    provider_configs: list[KeyProviderConfig] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    rate_limit: RateLimit | None = None

    def expires(self) -> float | None:
        """Unix time of expiry; a datetime without a zone is UTC."""
        if self.expires_at is None:
            return None
        moment = self.expires_at if self.expires_at.tzinfo else self.expires_at.replace(tzinfo=UTC)
        return moment.timestamp()


class Team(ConfigStruct, frozen=True):
    id: str
    name: str = ""
    customer_id: str | None = None
    budgets: list[Budget] = field(default_factory=list)


class Customer(ConfigStruct, frozen=True):
    id: str
    name: str = ""
    budgets: list[Budget] = field(default_factory=list)


class AuthConfig(ConfigStruct, frozen=True):
    admin_token: str | None = None  # "env.NAME" allowed; without it the admin API is closed


class GovernanceConfig(ConfigStruct, frozen=True):
    virtual_keys: list[VirtualKey] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    pricing: dict[str, Price] = field(default_factory=dict)  # "provider/model" -> price
    auth_config: AuthConfig = field(default_factory=AuthConfig)
    # The id of the virtual key that governs calls carrying none (unless client.enforce_auth_on_inference
    # refuses them first). Without either, such calls are not governed at all: start-up says so.
    default_virtual_key: str | None = None
