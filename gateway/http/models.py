"""Model listing in both dialects, from the configured providers (and what their keys name)."""

from __future__ import annotations

from aiohttp import web

from ..call import probe_call
from ..errors import GatewayError, InvalidRequest, NotFound
from ..keys import ENGINE
from ..routing import check_model_name
from ..schemas import anthropic as a
from ..schemas import openai as o
from .entry import start_call
from .middlewares import dialect_of, route_prefix

# Config-listed models have no release date; a fixed one keeps listings stable across restarts.
CREATED_AT = "2025-01-01T00:00:00Z"
CREATED = 1735689600
MAX_LIMIT = 1000


def model_ids(request: web.Request) -> list[str]:
    """`provider/model` for every model a provider names; the route's default provider's models bare too."""
    engine = request.app[ENGINE]
    default = {"anthropic": "anthropic", "openai": "openai"}.get(route_prefix(request))
    ids: list[str] = []
    for name, provider in engine.providers.instances.items():
        for model in provider.known_models():
            ids.append(model if name == default else f"{name}/{model}")
    return list(dict.fromkeys(ids))


async def list_models(request: web.Request) -> web.Response:
    ids = model_ids(request)
    if dialect_of(request).name == "openai":
        body = o.ModelList(data=[_openai_model(i) for i in ids])
        return web.Response(body=o.ENCODER.encode(body), content_type="application/json")
    page = _page(ids, request.query)
    listing = a.ModelList(
        data=[_anthropic_model(i) for i in page.ids],
        has_more=page.has_more,
        first_id=page.ids[0] if page.ids else None,
        last_id=page.ids[-1] if page.ids else None,
    )
    return web.Response(body=a.ENCODER.encode(listing), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model_id"]
    if model_id not in model_ids(request) and not await _routable(request, model_id):
        raise NotFound(f"model {model_id!r} not found")
    if dialect_of(request).name == "openai":
        return web.Response(body=o.ENCODER.encode(_openai_model(model_id)), content_type="application/json")
    return web.Response(body=a.ENCODER.encode(_anthropic_model(model_id)), content_type="application/json")


async def _routable(request: web.Request, model_id: str) -> bool:
    """Whether some provider would serve `model_id`: gw_route decides, as it would for a call."""
    ctx = await start_call(request, route_prefix(request))
    try:
        check_model_name(model_id)
        plan = await request.app[ENGINE].pipeline.route(probe_call(model_id, dialect_of(request).name), ctx)
    except GatewayError:
        return False
    return plan is not None and bool(plan.targets)


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


def _anthropic_model(model_id: str) -> a.ModelInfo:
    return a.ModelInfo(id=model_id, display_name=model_id, created_at=CREATED_AT)


def _openai_model(model_id: str) -> o.Model:
    owner = model_id.partition("/")[0] if "/" in model_id else "gateway"
    return o.Model(id=model_id, created=CREATED, owned_by=owner)
