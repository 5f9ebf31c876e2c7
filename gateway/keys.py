"""Every AppKey and RequestKey of the core, in one place (aiohttp's typed, per-app state)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from .config import Settings
from .jobs.service import JobService
from .pipeline.execute import Engine
from .plugins import LoadedPlugins
from .redaction import Redactor

SETTINGS = web.AppKey("settings", Settings)
PLUGINS = web.AppKey("plugins", LoadedPlugins)
ENGINE = web.AppKey("engine", Engine)
JOBS = web.AppKey("jobs", JobService)
APP_DIR = web.AppKey("app_dir", Path)
ADMIN_CONNECTIONS = web.AppKey("admin_connections", set)  # connections of the admin listener, when it has one
INFLATIONS = web.AppKey("inflations", asyncio.Semaphore)  # compressed request bodies being inflated at once
REDACTOR = web.AppKey("redactor", Redactor)  # every secret of the app; plugins add theirs (Redactor.add)
REQUEST_ID = web.RequestKey("request_id", str)
