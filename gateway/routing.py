"""Model strings to targets (issue 2 rules), used by the built-in routing plugin and the models routes.

`provider/model` goes to that provider when it is configured. A bare model goes to `anthropic` on the
`/anthropic/...` routes (and their `/v1/messages` aliases), to `openai` on `/openai/...`, and otherwise (or
when that provider is not configured) to the first configured provider one of whose keys lists the model by
name (`"*"` does not count: it would make the choice arbitrary).
"""

from __future__ import annotations

from .call import Target
from .config import Settings

DEFAULT_PROVIDER_BY_PREFIX = {"anthropic": "anthropic", "openai": "openai"}


def resolve_target(model: str, route_prefix: str, settings: Settings) -> Target | None:
    provider, sep, rest = model.partition("/")
    if sep and rest and provider in settings.providers:
        return Target(provider=provider, model=rest)
    default = DEFAULT_PROVIDER_BY_PREFIX.get(route_prefix)
    if default in settings.providers:
        return Target(provider=default, model=model)
    for name, entry in settings.providers.items():
        if any(model in key.models for key in entry.keys):
            return Target(provider=name, model=model)
    return None
