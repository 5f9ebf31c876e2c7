"""Awaits pluggy hook impls in pluggy's order, in the four modes of ARCHITECTURE decision 3.

pluggy has no async support, so it stays the registry and orderer: the impl table is read once from
`HookCaller.get_hookimpls()` (pluggy calls them last-registered first, tryfirst before, trylast after), and each
impl is awaited here with only the arguments it declares.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import pluggy
from msgspec import Struct

log = logging.getLogger("gateway.hooks")


class Impl(Struct, frozen=True):
    plugin: str
    function: Callable[..., Any]
    argnames: tuple[str, ...]
    is_async: bool


def build_table(pm: pluggy.PluginManager, names: tuple[str, ...]) -> dict[str, tuple[Impl, ...]]:
    """Snapshot each hook's impls in call order (plugins are registered before the app starts)."""
    table: dict[str, tuple[Impl, ...]] = {}
    for name in names:
        caller = getattr(pm.hook, name)
        impls = reversed(caller.get_hookimpls())
        table[name] = tuple(
            Impl(
                plugin=impl.plugin_name,
                function=impl.function,
                argnames=tuple(impl.argnames),
                is_async=inspect.iscoroutinefunction(impl.function),
            )
            for impl in impls
        )
    return table


async def call_impl(impl: Impl, kwargs: Mapping[str, Any]) -> Any:
    result = impl.function(**{name: kwargs[name] for name in impl.argnames})
    if impl.is_async or inspect.isawaitable(result):
        result = await result
    return result


async def run_first(impls: tuple[Impl, ...], kwargs: Mapping[str, Any]) -> Any:
    """The first non-None result wins; later impls are not called."""
    for impl in impls:
        result = await call_impl(impl, kwargs)
        if result is not None:
            return result
    return None


async def run_collect(impls: tuple[Impl, ...], kwargs: Mapping[str, Any]) -> list[Any]:
    """Every impl runs in order; an exception stops the stage; non-None results are collected."""
    results = []
    for impl in impls:
        result = await call_impl(impl, kwargs)
        if result is not None:
            results.append(result)
    return results


async def run_pipe(impls: tuple[Impl, ...], value_name: str, kwargs: dict[str, Any]) -> Any:
    """Fold the value through every impl; None means unchanged."""
    for impl in impls:
        result = await call_impl(impl, kwargs)
        if result is not None:
            kwargs[value_name] = result
    return kwargs[value_name]


async def run_observe(impls: tuple[Impl, ...], kwargs: Mapping[str, Any]) -> None:
    """Every impl runs; a failure is logged with the plugin's name and does not stop the others."""
    for impl in impls:
        try:
            await call_impl(impl, kwargs)
        except Exception:
            log.exception("observer %s of plugin %s failed", impl.function.__name__, impl.plugin)
