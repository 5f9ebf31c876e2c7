"""The four modes of the async runner, pinned with toy plugins: order, None and raise semantics."""

from __future__ import annotations

import asyncio
from typing import Any

import pluggy
import pytest

from gateway import hookspecs
from gateway.hookspecs import hookimpl
from gateway.pipeline.runner import Impl, build_table, run_collect, run_first, run_observe, run_pipe


class Spec:
    @hookspecs.hookspec
    def gw_toy(self, value: Any, log: list[str]) -> Any:
        """A toy hook."""


def manager(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.NAME)
    pm.add_hookspecs(Spec)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def impls(*plugins: object) -> tuple[Impl, ...]:
    return build_table(manager(*plugins), ("gw_toy",))["gw_toy"]


def toy(name: str, result: Any = None, *, is_async: bool = False, raises: bool = False, **opts: Any) -> object:
    """A plugin whose gw_toy logs its name, then returns `result` (or raises)."""

    def sync_impl(value: Any, log: list[str]) -> Any:
        log.append(name)
        if raises:
            raise ValueError(name)
        return result(value) if callable(result) else result

    async def async_impl(value: Any, log: list[str]) -> Any:
        await asyncio.sleep(0)
        return sync_impl(value, log)

    plugin = type(name, (), {})()
    plugin.gw_toy = hookimpl(**opts)(async_impl if is_async else sync_impl)
    return plugin


async def test_order_is_pluggy_order_last_registered_first_with_tryfirst_and_trylast() -> None:
    log: list[str] = []
    table = impls(toy("late", trylast=True), toy("a"), toy("b"), toy("early", tryfirst=True))
    await run_collect(table, {"value": 0, "log": log})
    assert log == ["early", "b", "a", "late"]


async def test_first_returns_first_non_none_and_skips_the_rest() -> None:
    log: list[str] = []
    table = impls(toy("third", "c"), toy("second", "b", is_async=True), toy("first", None))
    assert await run_first(table, {"value": 0, "log": log}) == "b"
    assert log == ["first", "second"]


async def test_first_is_none_when_every_impl_declines() -> None:
    log: list[str] = []
    assert await run_first(impls(toy("a"), toy("b", is_async=True)), {"value": 0, "log": log}) is None
    assert log == ["b", "a"]


async def test_first_awaits_async_impls_instead_of_taking_the_coroutine() -> None:
    # pluggy's own firstresult would return the coroutine object of an async impl returning None.
    log: list[str] = []
    table = impls(toy("sync", "s"), toy("async_none", None, is_async=True))
    assert await run_first(table, {"value": 0, "log": log}) == "s"


async def test_collect_runs_all_and_gathers_non_none() -> None:
    log: list[str] = []
    table = impls(toy("a", 1), toy("b", None, is_async=True), toy("c", 3))
    assert await run_collect(table, {"value": 0, "log": log}) == [3, 1]
    assert log == ["c", "b", "a"]


async def test_collect_stops_at_the_first_raise() -> None:
    log: list[str] = []
    table = impls(toy("after"), toy("denier", raises=True), toy("before"))
    with pytest.raises(ValueError, match="denier"):
        await run_collect(table, {"value": 0, "log": log})
    assert log == ["before", "denier"]


async def test_pipe_folds_and_none_means_unchanged() -> None:
    log: list[str] = []
    table = impls(toy("times3", lambda v: v * 3), toy("same", None), toy("plus1", lambda v: v + 1, is_async=True))
    assert await run_pipe(table, "value", {"value": 1, "log": log}) == 6  # (1 + 1) * 3
    assert log == ["plus1", "same", "times3"]


async def test_pipe_propagates_a_raise() -> None:
    with pytest.raises(ValueError):
        await run_pipe(impls(toy("boom", raises=True)), "value", {"value": 1, "log": []})


async def test_observe_logs_failures_and_runs_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    log: list[str] = []
    await run_observe(impls(toy("a"), toy("broken", raises=True, is_async=True), toy("c")), {"value": 0, "log": log})
    assert log == ["c", "broken", "a"]
    assert "plugin" in caplog.text and "broken" in caplog.text


async def test_impls_get_only_the_arguments_they_declare() -> None:
    class OnlyLog:
        @hookimpl
        def gw_toy(self, log: list[str]) -> str:
            log.append("only-log")
            return "ok"

    log: list[str] = []
    assert await run_first(impls(OnlyLog()), {"value": 0, "log": log}) == "ok"
    assert log == ["only-log"]
