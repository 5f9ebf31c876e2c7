"""Every AppKey and RequestKey of the core, in one place (aiohttp's typed, per-app state)."""

from __future__ import annotations

from aiohttp import web

from .config import Settings
from .pipeline.execute import Engine
from .plugins import LoadedPlugins

SETTINGS = web.AppKey("settings", Settings)
PLUGINS = web.AppKey("plugins", LoadedPlugins)
ENGINE = web.AppKey("engine", Engine)
REQUEST_ID = web.RequestKey("request_id", str)
