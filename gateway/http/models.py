"""Model listing in both dialects, from the configured providers (what their keys name and, for keys that allow
"*", what their upstreams list), each entry described by the model catalog (else by the upstream): display name,
release date, and in OpenAI entries the context and output limits."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime

from aiohttp import web
from msgspec import UNSET, Struct, UnsetType
from msgspec.structs import replace

from ..call import Target, probe_call
from ..catalog import ModelInfo
from ..context import CallContext
from ..errors import GatewayError, InvalidRequest, NotFound
from ..keys import CATALOG, ENGINE, MODEL_LISTS
from ..providers.base import UpstreamModel
from ..routing import check_model_name
from ..schemas import anthropic as a
from ..schemas import openai as o
from .entry import start_call
from .middlewares import dialect_of, route_prefix

# For models the catalog has no release date for: a fixed one keeps listings stable across restarts.
CREATED_AT = "2025-01-01T00:00:00Z"
CREATED = 1735689600
MAX_LIMIT = 1000


class Listed(Struct, frozen=True):
    """One entry of a listing: where a call for it goes, and what its provider's upstream says about it."""

    target: Target
    model: UpstreamModel


async def listed(request: web.Request) -> dict[str, Listed]:
    """`provider/model` for every model a provider lists (the route's default provider's bare too): the models
    its keys name and, for keys that allow "*", its upstream's own (cached; see gateway.providers.listing)."""
    engine, lists = request.app[ENGINE], request.app[MODEL_LISTS]
    default = {"anthropic": "anthropic", "openai": "openai"}.get(route_prefix(request))
    names = list(engine.providers.instances)
    found: dict[str, Listed] = {}
    for name, models in zip(names, await asyncio.gather(*(lists.models(n) for n in names)), strict=True):
        for model in models:
            entry = Listed(target=Target(provider=name, model=model.id), model=model)
            found.setdefault(model.id if name == default else f"{name}/{model.id}", entry)
    return found


async def list_models(request: web.Request) -> web.Response:
    """The caller's listing: authenticated as a call is, narrowed to `?provider=` when given, and to what the caller
    may call (Bifrost: "filtered to the providers the VK allows")."""
    ctx = await start_call(request, route_prefix(request))
    entries = await listed(request)
    if "provider" in request.query:
        wanted = request.query["provider"]
        entries = {i: e for i, e in entries.items() if e.target.provider == wanted}
    entries = await _callable(request, ctx, entries)
    catalog = request.app[CATALOG]
    infos = {i: _described(catalog.lookup(e.target.provider, e.target.model), e) for i, e in entries.items()}
    if dialect_of(request).name == "openai":
        ids, token = _token_page(list(infos), request.query)
        body = o.ModelList(data=[_openai_model(i, infos[i]) for i in ids], next_page_token=token)
        return web.Response(body=o.ENCODER.encode(body), content_type="application/json")
    page = _page(list(entries), request.query)
    listing = a.ModelList(
        data=[_anthropic_model(i, infos[i]) for i in page.ids],
        has_more=page.has_more,
        first_id=page.ids[0] if page.ids else None,
        last_id=page.ids[-1] if page.ids else None,
    )
    return web.Response(body=a.ENCODER.encode(listing), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    ctx = await start_call(request, route_prefix(request))
    known = (await listed(request)).get(model_id)
    entry = (await _callable(request, ctx, {model_id: known})).get(model_id) if known is not None else None
    target = entry.target if entry is not None else await _routed(request, ctx, model_id)
    if target is None:
        raise NotFound(f"model {model_id!r} not found")
    info = _described(request.app[CATALOG].lookup(target.provider, target.model), entry)
    if dialect_of(request).name == "openai":
        return web.Response(body=o.ENCODER.encode(_openai_model(model_id, info)), content_type="application/json")
    return web.Response(body=a.ENCODER.encode(_anthropic_model(model_id, info)), content_type="application/json")


def _described(info: ModelInfo | None, entry: Listed | None) -> ModelInfo | None:
    """The catalog's entry, with the upstream's display name and date where the catalog has none."""
    listed = entry.model if entry is not None else None
    if entry is None or listed is None or (listed.name is None and listed.created is None):
        return info
    base = info or ModelInfo(provider=entry.target.provider, model=entry.target.model)
    date = datetime.fromtimestamp(listed.created, UTC).strftime("%Y-%m-%d") if listed.created is not None else None
    return replace(base, name=base.name or listed.name, release_date=base.release_date or date)


async def _callable(request: web.Request, ctx: CallContext, entries: dict[str, Listed]) -> dict[str, Listed]:
    """The entries a call would be let through for, to the provider the entry names: each asked of gw_authorize
    and gw_route as its call would be (a virtual key's allowed providers and models, a policy plugin's rules).
    A few microseconds an entry."""
    pipeline = request.app[ENGINE].pipeline
    dialect = dialect_of(request).name
    kept = {}
    for model_id, entry in entries.items():
        probe = probe_call(model_id, dialect)
        try:
            await pipeline.authorize(probe, ctx)
            plan = await pipeline.route(probe, ctx)
        except GatewayError:
            continue
        if plan is None or any(t.provider == entry.target.provider for t in plan.targets):
            kept[model_id] = entry
    return kept


async def _routed(request: web.Request, ctx: CallContext, model_id: str) -> Target | None:
    """Where a call for `model_id` would go, if anywhere: gw_authorize and gw_route decide, as for a call."""
    pipeline, probe = request.app[ENGINE].pipeline, probe_call(model_id, dialect_of(request).name)
    try:
        check_model_name(model_id)
        await pipeline.authorize(probe, ctx)
        plan = await pipeline.route(probe, ctx)
    except GatewayError:
        return None
    return plan.targets[0] if plan is not None and plan.targets else None


class _Page:
    def __init__(self, ids: list[str], has_more: bool) -> None:
        self.ids, self.has_more = ids, has_more


def _page(ids: list[str], query: object) -> _Page:
    """Anthropic pagination: `after_id` / `before_id` cursors and `limit` (1..1000, default 20)."""
    params = dict(query)  # type: ignore[call-overload]
    try:
        limit = int(params.get("limit", 20))
    except ValueError:
        raise InvalidRequest("limit: must be an integer", param="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit: must be between 1 and {MAX_LIMIT}", param="limit")
    if "after_id" in params:
        start = ids.index(params["after_id"]) + 1 if params["after_id"] in ids else len(ids)
        return _Page(ids[start : start + limit], start + limit < len(ids))
    if "before_id" in params:
        end = ids.index(params["before_id"]) if params["before_id"] in ids else 0
        return _Page(ids[max(end - limit, 0) : end], end - limit > 0)
    return _Page(ids[:limit], limit < len(ids))


def _token_page(ids: list[str], query: object) -> tuple[list[str], str | UnsetType]:
    """Bifrost's paging of the OpenAI-shape listing: `page_size` (1..1000) entries after `page_token` (opaque: the
    last id of the page before), and `next_page_token` while more follow. Without `page_size`, everything."""
    params = dict(query)  # type: ignore[call-overload]
    start = 0
    if "page_token" in params:
        try:
            after = base64.urlsafe_b64decode(params["page_token"].encode()).decode()
            start = ids.index(after) + 1
        except (ValueError, UnicodeError):
            raise InvalidRequest("page_token: not a token this listing gave", param="page_token") from None
    if "page_size" not in params:
        return ids[start:], UNSET
    try:
        size = int(params["page_size"])
    except ValueError:
        raise InvalidRequest("page_size: must be an integer", param="page_size") from None
    if not 1 <= size <= MAX_LIMIT:
        raise InvalidRequest(f"page_size: must be between 1 and {MAX_LIMIT}", param="page_size")
    page = ids[start : start + size]
    if start + size >= len(ids):
        return page, UNSET
    return page, base64.urlsafe_b64encode(page[-1].encode()).decode()


def _anthropic_model(model_id: str, info: ModelInfo | None) -> a.ModelInfo:
    released = info.released() if info is not None else None
    created_at = released.strftime("%Y-%m-%dT%H:%M:%SZ") if released is not None else CREATED_AT
    name = info.name if info is not None and info.name else model_id
    return a.ModelInfo(id=model_id, display_name=name, created_at=created_at)


def _openai_model(model_id: str, info: ModelInfo | None) -> o.Model:
    owner = model_id.partition("/")[0] if "/" in model_id else "gateway"
    released = info.released() if info is not None else None
    model = o.Model(id=model_id, created=int(released.timestamp()) if released is not None else CREATED, owned_by=owner)
    if info is None:
        return model
    return replace(
        model,
        context_window=info.context_window or UNSET,
        max_input_tokens=info.max_input_tokens or UNSET,
        max_output_tokens=info.max_output_tokens or UNSET,
    )
