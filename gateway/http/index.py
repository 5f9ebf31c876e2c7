"""`GET /` (and `HEAD /`): what answers here, for a person or a probe that opens the base URL."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from ..admin import is_admin_path
from ..api import VERSION

PACKAGE = "llm-gateway"


def package_version() -> str:
    try:
        return version(PACKAGE)
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


async def index(request: web.Request) -> web.Response:
    """The gateway's name, versions and public routes, read from the router (so plugins' routes show too);
    the admin API and its dashboard are left out: they are not for clients, and a listing of them helps only
    someone probing."""
    return web.json_response(
        {
            "name": PACKAGE,
            "version": package_version(),
            "plugin_api_version": VERSION,
            "routes": public_routes(request.app),
        }
    )


def public_routes(app: web.Application) -> list[str]:
    routes: list[str] = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method in ("HEAD", "OPTIONS", "*") or path == "/" or is_admin_path(app, path):
            continue
        routes.append(f"{route.method} {path}")
    return sorted(set(routes), key=lambda line: (line.split(" ", 1)[1], line))
