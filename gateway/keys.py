"""Every AppKey and RequestKey of the core, in one place (aiohttp's typed, per-app state)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from .config import Settings
from .jobs.service import JobService
from .pipeline.execute import Engine
from .plugins import LoadedPlugins

SETTINGS = web.AppKey("settings", Settings)
PLUGINS = web.AppKey("plugins", LoadedPlugins)
ENGINE = web.AppKey("engine", Engine)
JOBS = web.AppKey("jobs", JobService)
APP_DIR = web.AppKey("app_dir", Path)
REQUEST_ID = web.RequestKey("request_id", str)
