"""Every AppKey and RequestKey of the core, in one place (aiohttp's typed, per-app state).

The value types are imported for the type checker only, so that reading a key (a plugin reading SETTINGS, say)
does not import the engine, the job service and everything behind them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .admin import Admin
    from .call import Dialect
    from .catalog import Catalog
    from .config import Settings
    from .events import Events
    from .jobs.service import JobService
    from .pipeline.execute import Engine
    from .plugins import LoadedPlugins
    from .pricing import PriceTable
    from .providers.listing import ModelLists
    from .readiness import Drain
    from .redaction import Redactor
    from .shared_redis import SharedRedis

# Public (gateway.api): what plugins read.
SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
APP_DIR: web.AppKey[Path] = web.AppKey("app_dir")  # where the gateway keeps its data (--app-dir)
REDACTOR: web.AppKey[Redactor] = web.AppKey("redactor")  # every secret of the app; plugins add theirs
CATALOG: web.AppKey[Catalog] = web.AppKey("catalog")  # what each model takes and costs (models.dev + config)
PRICES: web.AppKey[PriceTable] = web.AppKey("prices")  # what calls cost; plugins add prices (PriceTable.override)
ADMIN: web.AppKey[Admin] = web.AppKey("admin")  # the admin credentials and the throttle of failed logins
# Path prefixes of the admin routes (see gateway.admin.add_admin_path): "/api", and what plugins add.
ADMIN_PATHS: web.AppKey[list[str]] = web.AppKey("admin_paths")
# The app's Redis client (the `redis` section), set only when configured: the state several gateways share.
REDIS: web.AppKey[SharedRedis] = web.AppKey("redis")
# Set by a route whose errors are to be answered in this dialect, whatever its path implies (a plugin's route that
# speaks both, like /v1/mcp/tool/execute?format=anthropic).
ERROR_DIALECT: web.RequestKey[Dialect] = web.RequestKey("error_dialect")
# The core's own.
PLUGINS: web.AppKey[LoadedPlugins] = web.AppKey("plugins")
ENGINE: web.AppKey[Engine] = web.AppKey("engine")
EVENTS: web.AppKey[Events] = web.AppKey("events")  # publish/subscribe over REDIS (set only when it is)
MODEL_LISTS: web.AppKey[ModelLists] = web.AppKey("model_lists")  # the providers' live model lists (cached)
JOBS: web.AppKey[JobService] = web.AppKey("jobs")
ADMIN_CONNECTIONS: web.AppKey[set[object]] = web.AppKey("admin_connections")  # the admin listener's, if any
DRAIN: web.AppKey[Drain] = web.AppKey("drain")  # /ready's checks and the drain of a stopping gateway
INFLATIONS: web.AppKey[asyncio.Semaphore] = web.AppKey("inflations")  # compressed bodies being inflated at once
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
