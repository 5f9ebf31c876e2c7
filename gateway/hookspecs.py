"""Every hook of the gateway. Declared and ordered with pluggy, awaited by `gateway.pipeline.runner`.

Request stages run in the order of `gateway.pipeline.stages.STAGES`; each has one mode (ARCHITECTURE decision 3):
- first:   the first non-None result wins; later impls are not called.
- collect: every impl runs in order; raising a GatewayError denies; non-None results are collected.
- pipe:    each impl gets the previous value and returns a new one, or None for "unchanged".
- observe: runs after the response was sent, off the request path; errors are logged, never sent.
Impls may be plain or `async def`, and may declare only the arguments they use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from aiohttp import web

    from .call import ChatCall, ChatResult, Chunk, Principal, RoutePlan, ToolCall, ToolOutcome
    from .config import PluginConfigRegistry
    from .context import CallContext
    from .errors import GatewayError
    from .providers.registry import ProviderRegistry
    from .schemas.anthropic import Tool, Usage

NAME = "gateway"
hookspec = pluggy.HookspecMarker(NAME)
hookimpl = pluggy.HookimplMarker(NAME)


# --- start-up --------------------------------------------------------------------------------------------


@hookspec
def gw_register_providers(registry: ProviderRegistry) -> None:
    """Add provider classes (`registry.add(cls)`). Mode: every impl is called once at start-up."""


@hookspec
def gw_register_config(registry: PluginConfigRegistry) -> None:
    """Declare a plugin's typed config (`registry.add(name, StructType)`). Mode: every impl, once at start-up."""


@hookspec
def gw_register_routes(app: web.Application) -> None:
    """Add HTTP routes to the app (e.g. an admin API). Mode: every impl, once at start-up."""


@hookspec
def gw_lifespan(app: web.Application) -> AbstractAsyncContextManager[None] | None:
    """Return an async context manager entered at start-up and exited at shutdown. Mode: every impl."""


# --- request stages --------------------------------------------------------------------------------------


@hookspec
def gw_authenticate(request: web.Request, ctx: CallContext) -> Principal | None:
    """Decide who is calling from the HTTP request. Mode: first."""


@hookspec
def gw_authorize(call: ChatCall, ctx: CallContext) -> None:
    """Allow or deny the call (raise a GatewayError to deny). Mode: collect."""


@hookspec
def gw_cache_lookup(call: ChatCall, ctx: CallContext) -> ChatResult | None:
    """Answer from a cache instead of a provider. Mode: first."""


@hookspec
def gw_admit_cached(call: ChatCall, result: ChatResult, ctx: CallContext) -> None:
    """A cache answered the call (gw_cache_lookup): count it against what limits calls, not spending (request
    rate limits); raise a GatewayError to refuse it. Mode: collect."""


@hookspec
def gw_route(call: ChatCall, ctx: CallContext) -> RoutePlan | None:
    """Choose the provider and model (and fallbacks) that serve the call. Mode: first."""


@hookspec
def gw_prepare_tools(call: ChatCall, ctx: CallContext) -> list[Tool] | None:
    """Offer tools to add to the call (e.g. from MCP servers). Mode: collect."""


@hookspec
def gw_transform_request(call: ChatCall, ctx: CallContext) -> ChatCall | None:
    """Rewrite the call just before its provider runs it (once per attempted target). Mode: pipe."""


@hookspec
def gw_admit_attempt(call: ChatCall, ctx: CallContext) -> None:
    """Act on one attempt at a target, once its call is final (after gw_transform_request): reserve a budget,
    count a rate limit; raise a GatewayError to refuse this target (an UpstreamError lets a fallback serve).
    Mode: collect."""


@hookspec
def gw_transform_response(call: ChatCall, result: ChatResult, ctx: CallContext) -> ChatResult | None:
    """Rewrite a complete answer before it is encoded for the client. Mode: pipe."""


@hookspec
def gw_transform_chunk(call: ChatCall, chunk: Chunk, ctx: CallContext) -> Chunk | None:
    """Rewrite one stream chunk before it is encoded for the client. Mode: pipe."""


@hookspec
def gw_record_usage(call: ChatCall, usage: Usage, ctx: CallContext) -> None:
    """Record what a finished call consumed (budgets, logs, metrics). Mode: observe."""


@hookspec
def gw_record_error(call: ChatCall, error: GatewayError, ctx: CallContext) -> None:
    """Record a call that ended in an error (denied, refused, failed): audit logs, metrics. The error is the
    one the client gets, secrets masked. Mode: observe."""


@hookspec
def gw_admit_tool_call(tool: ToolCall, ctx: CallContext) -> None:
    """A caller asks the gateway to run a tool (`/v1/mcp/tool/execute`, `/mcp`): count it against what limits
    calls (request rate limits); raise a GatewayError to refuse it. Mode: collect."""


@hookspec
def gw_record_tool_call(tool: ToolCall, outcome: ToolOutcome, ctx: CallContext) -> None:
    """Record a tool call the gateway ran or refused (audit logs, metrics); a failure's error is the one the caller
    got, secrets masked. Mode: observe."""


@hookspec
def gw_cache_store(call: ChatCall, result: ChatResult, ctx: CallContext) -> None:
    """Store a finished answer in a cache. Mode: observe."""


STARTUP_HOOKS: tuple[str, ...] = ("gw_register_providers", "gw_register_config", "gw_register_routes", "gw_lifespan")
__all__: list[Any] = ["hookimpl", "hookspec"]
