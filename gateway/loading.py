"""Reading a config file the way `gateway serve` and `gateway check-config` do, in one pass.

Every problem is reported at once: the file's schema errors, and the errors that plugins find in their own
sections and configs (governance, providers' options and keys, `plugins[]`), which need a Settings to be built
first. So when the schema has errors, the plugins check a partial Settings without the sections that have them.
Bifrost settings we do not implement are warnings, or errors with `strict` (`--strict-config`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
from msgspec import Struct

from .config import ConfigError, Settings, collect_errors, decode_config, prepare
from .config_shared import StoreConfig

_TOP = re.compile(r"^\$\.([^.\[:]+)(?:\.([^.\[:]+))?")


class LoadedConfig(Struct, frozen=True):
    settings: Settings
    warnings: list[str]  # one line per Bifrost setting that is accepted and ignored


def load_config(path: str | Path, *, strict: bool = False, extra_plugins: Iterable[object] = ()) -> LoadedConfig:
    """The file's Settings, checked by the plugins too; raise ConfigError listing every problem."""
    return check_settings(decode_config(path), strict=strict, extra_plugins=extra_plugins)


def check_settings(data: Any, *, strict: bool = False, extra_plugins: Iterable[object] = ()) -> LoadedConfig:
    from .plugins import load_plugins

    resolved, errors, warnings = prepare(data)
    if strict:
        errors, warnings = errors + warnings, []
    schema_errors = collect_errors(resolved, Settings, "$")
    errors += schema_errors
    partial = _partial(resolved, schema_errors)
    if partial is not None:
        try:
            load_plugins(partial, extra_plugins)
        except ConfigError as exc:
            errors += exc.errors
    settings = _convert(resolved) if not schema_errors else None
    if settings is not None:
        stores = partial_support_warnings(settings)
        errors, warnings = (errors + stores, warnings) if strict else (errors, warnings + stores)
    if errors or settings is None:
        raise ConfigError(errors)
    return LoadedConfig(settings=settings, warnings=warnings)


def _convert(data: Any) -> Settings | None:
    try:
        return msgspec.convert(data, Settings)
    except msgspec.ValidationError:  # only reached with env errors left (the schema passed)
        return None


def first_problem(path: str, problems: list[str]) -> str:
    """What `serve` prints when it cannot start: the first problem, and how many more with the command that lists
    them all."""
    more = f" (and {len(problems) - 1} more; run `gateway check-config {path}`)" if len(problems) > 1 else ""
    return f"gateway: {problems[0]}{more}"


def invalid(path: str, error: ConfigError) -> list[str]:
    return [f"invalid config {path}: {line}" for line in error.errors]


def partial_support_warnings(settings: Settings) -> list[str]:
    """What is accepted but only partly served: Bifrost's stores (governance keeps its state, Bifrost's config
    store, in sqlite at <app-dir>/config.db; the `logging` plugin its log store, at <app-dir>/logs.db) and socks5
    proxies."""
    found = _config_store_warnings(settings.config_store)
    logs = settings.logs_store
    if logs is None or logs.type != "postgres":  # a postgres logs_store is the request log's (plugin `logging`)
        found += _store_warnings("logs_store", logs, "the request log (plugin `logging`)", "logs.db")
    found += [
        f"$.providers.{name}.proxy_config.type: socks5 is not supported yet; this provider connects directly"
        for name, provider in settings.providers.items()
        if provider.proxy_config.type == "socks5"
    ]
    return found


def _store_warnings(section: str, store: StoreConfig | None, what: str, file: str) -> list[str]:
    """A Bifrost store is served by SQLite in the app dir: a warning for a type or path that is not honoured."""
    if store is None or not store.enabled:
        return []
    if store.type != "sqlite":
        return [f"$.{section}.type: {store.type!r} is not supported yet; {what} is kept in sqlite at <app-dir>/{file}"]
    if "path" in store.config:
        return [f"$.{section}.config.path: not honoured; {what} is kept in <app-dir>/{file}"]
    return []


def _config_store_warnings(store: StoreConfig | None) -> list[str]:
    """Governance honours the sqlite `config.path` and the postgres type: only another type is warned about."""
    if store is None or store.type in ("sqlite", "postgres"):
        return []
    return _store_warnings("config_store", store, "governance state", "config.db")


def _partial(data: Any, schema_errors: list[str]) -> Settings | None:
    """`data` without the sections (or single providers) that have schema errors, as Settings; None if even
    that does not convert (an error at the top: not an object, a missing required key)."""
    if not isinstance(data, dict):
        return None
    partial = dict(data)
    providers = dict(partial["providers"]) if isinstance(partial.get("providers"), dict) else None
    for line in schema_errors:
        match = _TOP.match(line)
        if match is None:
            return None
        top, second = match.groups()
        if top == "providers" and providers is not None and second is not None:
            providers.pop(second, None)
        else:
            partial.pop(top, None)
    if providers is not None and "providers" in partial:
        partial["providers"] = providers
    try:
        return msgspec.convert(partial, Settings)
    except msgspec.ValidationError:
        return None
