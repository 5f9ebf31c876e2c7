"""Per-call context handed to every request stage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from aiohttp import web
    from multidict import CIMultiDictProxy

    from ..call import Principal, RoutePlan, Target
    from ..config import Settings

T = TypeVar("T")


@dataclass(slots=True, eq=False)
class CallContext:
    """Mutable state of one call: who asked, what was planned, what was tried. Lives as long as the call."""

    request_id: str
    app: web.Application
    settings: Settings
    headers: CIMultiDictProxy[str]
    route_prefix: str = ""  # "anthropic" | "openai" | "" (the bare /v1 routes)
    principal: Principal | None = None
    plan: RoutePlan | None = None
    served_by: Target | None = None
    attempts: int = 0
    fallback_index: int = 0
    started: float = field(default_factory=time.monotonic)
    plugin_configs: dict[type, object] = field(default_factory=dict)

    def config(self, config_type: type[T]) -> T:
        """The validated config of a plugin, by the Struct type it registered."""
        value = self.plugin_configs.get(config_type)
        if value is None:
            raise LookupError(f"no plugin config of type {config_type.__name__}")
        return value  # type: ignore[return-value]
