"""Building an app's plugin manager: hookspecs, entry-point plugins, config `plugins[]`, typed plugin configs."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy
from msgspec import Struct

from . import bifrost, hookspecs
from .config import ConfigError, PluginConfigRegistry, Settings, convert_config
from .providers.registry import ProviderRegistry

ENTRY_POINT_GROUP = "gateway"


class LoadedPlugins(Struct, kw_only=True):
    """A ready plugin manager with what its start-up hooks registered."""

    pm: pluggy.PluginManager
    providers: ProviderRegistry
    configs: dict[type, object]  # each plugin's validated config, by the Struct type it registered
    sections: dict[str, type]  # top-level config sections owned by plugins, and their types
    config_types: dict[str, type] = {}  # plugins[].config types, by plugin name (for the config's JSON Schema)


def load_plugins(settings: Settings, extra: Iterable[object] = ()) -> LoadedPlugins:
    """Register built-in and third-party plugins, apply `plugins[]`, and validate every plugin config.

    Raises ConfigError listing every problem with its JSON path.
    """
    pm = pluggy.PluginManager(hookspecs.NAME)
    pm.add_hookspecs(hookspecs)
    unknown, errors = _register(pm, settings, extra)
    pm.check_pending()
    providers = ProviderRegistry()
    pm.hook.gw_register_providers(registry=providers)
    config_types = PluginConfigRegistry()
    pm.hook.gw_register_config(registry=config_types)
    # An entry may also name a plugin handed in as an object (extra, as the test kit does) by its config's name.
    errors += [
        f"$.plugins[{index}].name: no installed plugin is named {name!r}; set `path`"
        for index, name in unknown
        if name not in config_types.types
    ]
    errors += providers.check(settings)
    configs, config_errors = _plugin_configs(settings, config_types)
    errors += config_errors
    if errors:
        raise ConfigError(errors)
    return LoadedPlugins(
        pm=pm,
        providers=providers,
        configs=configs,
        sections=dict(config_types.sections),
        config_types=dict(config_types.types),
    )


def _register(
    pm: pluggy.PluginManager, settings: Settings, extra: Iterable[object]
) -> tuple[list[tuple[int, str]], list[str]]:
    """Register every plugin; the entries (index, name) that name no installed plugin and give no path, and the
    errors of the entries whose path does not import."""
    unknown: list[tuple[int, str]] = []
    errors: list[str] = []
    available = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for index, entry in enumerate(settings.plugins):
        if entry.path is None and entry.name not in available and not bifrost.ignored_plugin(entry.name):
            unknown.append((index, entry.name))
        if not entry.enabled:
            pm.set_blocked(entry.name)
    for name, ep in available.items():
        if not pm.is_blocked(name):
            pm.register(ep.load(), name=name)
    for index, entry in enumerate(settings.plugins):
        if entry.path is not None and entry.enabled:
            module = _import(entry.path, f"$.plugins[{index}].path", errors)
            if module is not None:
                pm.register(module, name=entry.name)
    for plugin in extra:
        if not pm.is_registered(plugin):  # a plugin's tests may hand in the module its entry point loaded already
            pm.register(plugin)
    return unknown, errors


def _import(path: str, where: str, errors: list[str]) -> ModuleType | None:
    try:
        return importlib.import_module(path)
    except ImportError as exc:
        errors.append(f"{where}: cannot import {path!r}: {exc}")
        return None


def _plugin_configs(settings: Settings, registry: PluginConfigRegistry) -> tuple[dict[type, object], list[str]]:
    raw: dict[str, tuple[str, dict[str, Any]]] = {
        entry.name: (f"$.plugins[{i}].config", entry.config)
        for i, entry in enumerate(settings.plugins)
        if entry.enabled  # a disabled plugin is not loaded: its config is not read
    }
    configs: dict[type, object] = {}
    errors = [
        f"{where}: no loaded plugin declares a config named {name!r} (it is the name given to registry.add)"
        for name, (where, value) in raw.items()
        if value and name not in registry.types and not bifrost.ignored_plugin(name)
    ]
    for section, config_type in registry.sections.items():
        try:
            configs[config_type] = convert_config(getattr(settings, section), config_type, f"$.{section}")
        except ConfigError as exc:
            errors.extend(exc.errors)
            continue
        check = getattr(configs[config_type], "config_errors", None)  # checks across entries (references)
        if check is not None:
            errors.extend(check())
        check_settings = getattr(configs[config_type], "settings_errors", None)  # checks against the whole file
        if check_settings is not None:
            errors.extend(check_settings(settings))
    for name, config_type in registry.types.items():
        where, value = raw.get(name, (f"$.plugins[{name}].config", {}))
        try:
            configs[config_type] = convert_config(value, config_type, where)
        except ConfigError as exc:
            errors.extend(exc.errors)
            continue
        # Checks a type cannot say (one field needs another): each error's path is relative to the config.
        check = getattr(configs[config_type], "config_errors", None)
        if check is not None:
            errors.extend(where + error for error in check())
    return configs, errors
