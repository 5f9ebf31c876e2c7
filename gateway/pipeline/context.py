"""Per-call context handed to every request stage."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from ..tokens import DEFAULT as DEFAULT_MEDIA_RULES

if TYPE_CHECKING:
    from aiohttp import web
    from multidict import CIMultiDictProxy

    from ..call import Principal, RoutePlan, Target
    from ..config import Settings
    from ..tokens import MediaRules

T = TypeVar("T")


def default_media_rules(target: Target) -> MediaRules:
    return DEFAULT_MEDIA_RULES


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
    # How a target's provider counts images and PDF pages (`gateway.tokens`), to size a prompt before the call.
    media_rules: Callable[[Target], MediaRules] = field(default=default_media_rules)
    usage_recorded: bool = False  # gw_record_usage was scheduled for this call
    _states: dict[type, object] = field(default_factory=dict)
    _on_unrecorded: list[Callable[[], None]] = field(default_factory=list)

    def state(self, state_type: type[T]) -> T:
        """A plugin's own per-call state, created (with no arguments) on first use."""
        value = self._states.get(state_type)
        if value is None:
            value = self._states[state_type] = state_type()
        return value  # type: ignore[return-value]

    def on_unrecorded(self, callback: Callable[[], None]) -> None:
        """Run `callback` if the call ends without gw_record_usage (it failed, or a cache answered it): the way
        to release what a plugin reserved for a call that will never report its usage."""
        self._on_unrecorded.append(callback)

    def finish_unrecorded(self) -> None:
        """Called by the engine when a call ends without usage; runs the callbacks once."""
        callbacks, self._on_unrecorded = self._on_unrecorded, []
        if not self.usage_recorded:
            for callback in callbacks:
                callback()

    def config(self, config_type: type[T]) -> T:
        """The validated config of a plugin, by the Struct type it registered."""
        value = self.plugin_configs.get(config_type)
        if value is None:
            raise LookupError(f"no plugin config of type {config_type.__name__}")
        return value  # type: ignore[return-value]
