"""How `gateway serve` logs: text (the default) or one JSON object a line (`--log-format json`), at `--log-level`,
with an access log line per request (logger `gateway.access`) and the start-up line.

Secrets never reach a line: every record is masked by the redactor's record factory (`gateway.redaction`) before
any formatter sees it, and the access log names the path without its query string (where a key may be passed).
"""

from __future__ import annotations

import json
import logging
import time
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .keys import REQUEST_ID

LogFormat = Literal["text", "json"]
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER = "gateway.access"
# What every LogRecord has: the rest of its attributes are a call's `extra=` fields, which JSON lines carry.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the record's extra fields, and
    the (already masked) traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_"))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["traceback"] = record.exc_text
        return json.dumps(line, default=str)


def configure(level: str, log_format: LogFormat) -> None:
    """The root logger's one handler (stderr) for `gateway serve`."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


class AccessLogger(AbstractAccessLogger):
    """One line per answered request: method, path (no query), status, duration and request id; in JSON, each a
    field. Off below INFO (`enabled`), so `--log-level WARNING` costs the hot path nothing."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        fields = {
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "duration_ms": round(time * 1000, 2),
            "request_id": request.get(REQUEST_ID),
            "remote": request.remote,
        }
        self.logger.info(
            "%s %s %s %.1fms %s", request.method, request.path, response.status, time * 1000, fields["request_id"],
            extra=fields,
        )  # fmt: skip

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def access_logger() -> logging.Logger:
    return logging.getLogger(ACCESS_LOGGER)


def startup_fields(
    url: str, config_path: str, app_dir: Path, providers: Iterable[str], plugins: Iterable[tuple[str, object]]
) -> dict[str, Any]:
    """What the start-up line names: where it listens, from which config and app dir, with what loaded. Plugins
    are the registered modules (hook objects a plugin adds while it starts are part of it, not named apart)."""
    return {
        "url": url,
        "config": config_path,
        "app_dir": str(app_dir),
        "providers": sorted(providers),
        "plugins": sorted(name for name, plugin in plugins if isinstance(plugin, types.ModuleType)),
    }


def startup_line(fields: dict[str, Any], log_format: LogFormat) -> str:
    """The line `gateway serve` prints on stdout once it listens; it starts `gateway listening on URL ` in text
    (what scripts of `--port 0` read), and is a JSON object like the logs with `--log-format json`."""
    message = f"gateway listening on {fields['url']}"
    if log_format == "json":
        return json.dumps({"message": message, **fields})
    return (
        f"{message} (config {fields['config']}, app dir {fields['app_dir']}, "
        f"providers: {', '.join(fields['providers']) or 'none'}; plugins: {', '.join(fields['plugins']) or 'none'})"
    )
