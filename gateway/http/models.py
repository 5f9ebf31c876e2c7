"""Model listing in both dialects, from the configured providers (and what their keys name), each entry described
by the model catalog: display name, release date, and in OpenAI entries the context and output limits."""

from __future__ import annotations

from aiohttp import web
from msgspec import UNSET
from msgspec.structs import replace

from ..call import Target, probe_call
from ..catalog import ModelInfo
from ..errors import GatewayError, InvalidRequest, NotFound
from ..keys import CATALOG, ENGINE
from ..routing import check_model_name
from ..schemas import anthropic as a
from ..schemas import openai as o
from .entry import start_call
from .middlewares import dialect_of, route_prefix

# For models the catalog has no release date for: a fixed one keeps listings stable across restarts.
CREATED_AT = "2025-01-01T00:00:00Z"
CREATED = 1735689600
MAX_LIMIT = 1000


def listed(request: web.Request) -> dict[str, Target]:
    """`provider/model` for every model a provider names (the route's default provider's bare too): its target."""
    engine = request.app[ENGINE]
    default = {"anthropic": "anthropic", "openai": "openai"}.get(route_prefix(request))
    found: dict[str, Target] = {}
    for name, provider in engine.providers.instances.items():
        for model in provider.known_models():
            found.setdefault(model if name == default else f"{name}/{model}", Target(provider=name, model=model))
    return found


async def list_models(request: web.Request) -> web.Response:
    targets = listed(request)
    catalog = request.app[CATALOG]
    infos = {i: catalog.lookup(t.provider, t.model) for i, t in targets.items()}
    if dialect_of(request).name == "openai":
        body = o.ModelList(data=[_openai_model(i, info) for i, info in infos.items()])
        return web.Response(body=o.ENCODER.encode(body), content_type="application/json")
    page = _page(list(targets), request.query)
    listing = a.ModelList(
        data=[_anthropic_model(i, infos[i]) for i in page.ids],
        has_more=page.has_more,
        first_id=page.ids[0] if page.ids else None,
        last_id=page.ids[-1] if page.ids else None,
    )
    return web.Response(body=a.ENCODER.encode(listing), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    target = listed(request).get(model_id) or await _routed(request, model_id)
    if target is None:
        raise NotFound(f"model {model_id!r} not found")
    info = request.app[CATALOG].lookup(target.provider, target.model)
    if dialect_of(request).name == "openai":
        return web.Response(body=o.ENCODER.encode(_openai_model(model_id, info)), content_type="application/json")
    return web.Response(body=a.ENCODER.encode(_anthropic_model(model_id, info)), content_type="application/json")


async def _routed(request: web.Request, model_id: str) -> Target | None:
    """Where a call for `model_id` would go, if anywhere: gw_route decides, as it would for a call."""
    ctx = await start_call(request, route_prefix(request))
    try:
        check_model_name(model_id)
        plan = await request.app[ENGINE].pipeline.route(probe_call(model_id, dialect_of(request).name), ctx)
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
