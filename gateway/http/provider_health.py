"""`GET /api/providers/health` (admin): each provider's calls, errors, last error and concurrency in use, and each
key's state (live, or dead after an upstream refused it), by name only."""

from __future__ import annotations

import msgspec
from aiohttp import web

from ..admin import require_admin
from ..keys import ENGINE, REDACTOR

_ENCODER = msgspec.json.Encoder()


async def provider_health(request: web.Request) -> web.Response:
    require_admin(request, "the provider health API")
    providers = request.app[ENGINE].providers.health_of(request.app[REDACTOR].text)
    return web.Response(body=_ENCODER.encode({"providers": providers}), content_type="application/json")
