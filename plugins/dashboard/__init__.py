"""The web dashboard (`dashboard`) at `/ui`: overview charts, the request log, virtual keys, provider health.

A static page, one script and one stylesheet (package data, no build step): they hold no data, so they are served
without a token; every datum the page shows comes from the admin APIs (`/api/logs*`, `/api/governance/*`,
`/api/providers/health`), which ask for the admin credentials the page's login keeps in sessionStorage.

On by default; `plugins: [{"name": "dashboard", "enabled": false}]` turns it off. It adds routes only, no request
hook: calls pay nothing for it. See the README's "Observability: dashboard".
"""

from __future__ import annotations

from aiohttp import web

from gateway import hookimpl
from gateway.api import add_admin_path

from .assets import Assets, load_assets

BASE = "/ui"
ASSETS = web.AppKey("dashboard_assets", Assets)
# Every /ui answer: scripts and styles from this origin only (no inline ones: the page builds its DOM from
# data, and a logged prompt must never run), never framed, no referrer leaving the page, no type sniffing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
        " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",  # revalidated: an upgraded gateway's page is never mixed with an old script
}
PAGES = frozenset({"overview", "logs", "keys", "providers"})


@hookimpl
def gw_register_routes(app: web.Application) -> None:
    app[ASSETS] = load_assets()
    add_admin_path(app, BASE)  # with --admin-port, beside the /api it calls from its own origin
    app.router.add_get(BASE, _shell)
    app.router.add_get(f"{BASE}/", _shell)
    app.router.add_get(f"{BASE}/assets/{{name}}", _asset)
    app.router.add_get(f"{BASE}/{{page}}", _shell)


def _answer(status: int, body: bytes, content_type: str) -> web.Response:
    return web.Response(status=status, body=body, headers={**SECURITY_HEADERS, "Content-Type": content_type})


async def _shell(request: web.Request) -> web.Response:
    """The one page; the script shows the part the path names (/ui/logs ...), so a reload keeps the page."""
    page = request.match_info.get("page")
    if page is not None and page not in PAGES:
        return _answer(404, b"no such dashboard page\n", "text/plain; charset=utf-8")
    assets = request.app[ASSETS]
    return _answer(200, assets.shell, "text/html; charset=utf-8")


async def _asset(request: web.Request) -> web.Response:
    found = request.app[ASSETS].files.get(request.match_info["name"])
    if found is None:
        return _answer(404, b"no such asset\n", "text/plain; charset=utf-8")
    body, content_type = found
    return _answer(200, body, content_type)
