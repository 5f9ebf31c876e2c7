"""Example plugin: short model names that expand to `provider/model` with fallbacks.

Config:  {"plugins": [{"name": "model_aliases", "path": "examples.model_aliases",
                       "config": {"aliases": {"fast": ["mock/small", "openai/gpt-4o-mini"]}}}]}
"""

from __future__ import annotations

from gateway import CallContext, ChatCall, ConfigRegistry, ConfigStruct, RoutePlan, Target, hookimpl


class AliasConfig(ConfigStruct, frozen=True):
    aliases: dict[str, list[str]] = {}  # alias -> targets in the order to try them


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add("model_aliases", AliasConfig)


@hookimpl
def gw_route(call: ChatCall, ctx: CallContext) -> RoutePlan | None:
    targets = ctx.config(AliasConfig).aliases.get(call.model)
    if not targets:
        return None  # not ours: the next router (the built-in one) decides
    return RoutePlan(targets=tuple(Target(*t.split("/", 1)) for t in targets))
