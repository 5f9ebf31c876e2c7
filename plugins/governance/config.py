"""Governance config, with Bifrost's names: virtual keys, teams, customers, budgets, rate limits, pricing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from msgspec import Meta, field

from gateway import ConfigStruct, Price
from gateway.api import AdminAuth

from .durations import Duration

USD = Annotated[float, Meta(ge=0)]


class Budget(ConfigStruct, frozen=True):
    max_limit: USD  # USD per period
    reset_duration: Duration = "1M"
    calendar_aligned: bool = False  # reset at UTC boundaries (midnight, Monday, the 1st, Jan 1st)
    # Set on the budgets of governance.budgets[] (Bifrost's by-id form): every entity it is attached to spends
    # from the same budget, as in Bifrost, where it is one row.
    id: str | None = None


class BudgetEntry(ConfigStruct, frozen=True):
    """A budget of governance.budgets[]: referenced by `budget_id`, or naming its owner (Bifrost v2)."""

    id: str
    max_limit: USD
    reset_duration: Duration = "1M"
    calendar_aligned: bool = False
    virtual_key_id: str | None = None
    team_id: str | None = None
    customer_id: str | None = None
    provider_config_id: int | str | None = None  # the `id` of a virtual key's provider config

    def budget(self) -> Budget:
        return Budget(
            max_limit=self.max_limit, reset_duration=self.reset_duration, calendar_aligned=self.calendar_aligned,
            id=self.id,
        )  # fmt: skip


class RateLimit(ConfigStruct, frozen=True):
    request_max_limit: Annotated[int, Meta(gt=0)] | None = None
    request_reset_duration: Duration = "1m"
    token_max_limit: Annotated[int, Meta(gt=0)] | None = None
    token_reset_duration: Duration = "1m"
    id: str | None = None  # set on those of governance.rate_limits[]: shared by whatever references it


class RateLimitEntry(ConfigStruct, frozen=True):
    """A rate limit of governance.rate_limits[], referenced by `rate_limit_id`."""

    id: str
    request_max_limit: Annotated[int, Meta(gt=0)] | None = None
    request_reset_duration: Duration = "1m"
    token_max_limit: Annotated[int, Meta(gt=0)] | None = None
    token_reset_duration: Duration = "1m"

    def rate_limit(self) -> RateLimit:
        return RateLimit(
            request_max_limit=self.request_max_limit, request_reset_duration=self.request_reset_duration,
            token_max_limit=self.token_max_limit, token_reset_duration=self.token_reset_duration, id=self.id,
        )  # fmt: skip


class KeyProviderConfig(ConfigStruct, frozen=True):
    provider: str
    id: int | str | None = None  # Bifrost's: what governance.budgets[].provider_config_id names
    budget_id: str | None = None
    rate_limit_id: str | None = None
    weight: Annotated[float, Meta(gt=0)] = 1.0
    allowed_models: list[str] = field(default_factory=lambda: ["*"])
    budgets: list[Budget] = field(default_factory=list)
    rate_limit: RateLimit | None = None

    def allows(self, model: str) -> bool:
        return "*" in self.allowed_models or model in self.allowed_models


class KeyMcpConfig(ConfigStruct, frozen=True):
    """Which tools of one MCP client a key's calls may use (`mcp_configs[]`, Bifrost's names)."""

    mcp_client_name: Annotated[str, Meta(min_length=1)]
    tools_to_execute: list[str] = field(default_factory=list)  # the server's own tool names; ["*"] all, [] none


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
    budget_id: str | None = None  # of governance.budgets[]
    rate_limit_id: str | None = None  # of governance.rate_limits[]
    provider_configs: list[KeyProviderConfig] = field(default_factory=list)
    budgets: list[Budget] = field(default_factory=list)
    rate_limit: RateLimit | None = None
    # When not empty, the only MCP clients (and their tools) the key's calls get; the x-bf-mcp-include-* headers
    # are then ignored. Empty (the default): no restriction of the key's own.
    mcp_configs: list[KeyMcpConfig] = field(default_factory=list)
    disable_content_logging: bool = False  # the request log keeps none of this key's content

    def __post_init__(self) -> None:
        names = [config.mcp_client_name for config in self.mcp_configs]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:  # two entries for one client: which one holds would be a guess
            raise ValueError(f"mcp_configs names the MCP client {', '.join(twice)} more than once")

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
    budget_id: str | None = None
    rate_limit_id: str | None = None
    budgets: list[Budget] = field(default_factory=list)
    rate_limit: RateLimit | None = None  # counts the calls of all the team's keys


class Customer(ConfigStruct, frozen=True):
    id: str
    name: str = ""
    budget_id: str | None = None
    rate_limit_id: str | None = None
    budgets: list[Budget] = field(default_factory=list)
    rate_limit: RateLimit | None = None


class GovernanceConfig(ConfigStruct, frozen=True):
    virtual_keys: list[VirtualKey] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    budgets: list[BudgetEntry] = field(default_factory=list)  # Bifrost's by-id form (see references.py)
    rate_limits: list[RateLimitEntry] = field(default_factory=list)
    pricing: dict[str, Price] = field(default_factory=dict)  # "provider/model" -> price
    auth_config: AdminAuth = field(default_factory=AdminAuth)  # the gateway's admin credentials (gateway.admin)
    # The id of the virtual key that governs calls carrying none (unless client.enforce_auth_on_inference
    # refuses them first). Without either, such calls are not governed at all: start-up says so.
    default_virtual_key: str | None = None

    def config_errors(self) -> list[str]:
        """Errors across entries: ids that name nothing (gateway.plugins asks every section type for these)."""
        from .references import reference_errors

        return reference_errors(self)

    def resolved(self) -> GovernanceConfig:
        """This config with every by-id budget and rate limit attached to what references or owns it."""
        from .references import resolve

        return resolve(self)
