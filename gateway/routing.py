"""Model strings to targets (issue 2 rules), used by the built-in routing plugin and the models routes.

`provider/model` goes to that provider when it is configured. A bare model goes to `anthropic` on the
`/anthropic/...` routes (and their `/v1/messages` aliases), to `openai` on `/openai/...`, and otherwise (or
when that provider is not configured) to the first configured provider one of whose keys lists the model by
name (`"*"` does not count: it would make the choice arbitrary), or to the only provider when there is one, or
to the first provider the model catalog knows the model for.
"""

from __future__ import annotations

import re

from .call import Target
from .catalog import Catalog
from .config import Settings
from .errors import InvalidRequest

DEFAULT_PROVIDER_BY_PREFIX = {"anthropic": "anthropic", "openai": "openai"}
# Longer than any real model id (Bedrock inference-profile ARNs are ~100 characters).
MAX_MODEL_LENGTH = 256
# Model names go into upstream URLs (Gemini, Azure, Bedrock) and into answer headers (x-bf-model): printable
# ASCII only (no control characters or whitespace: header injection), no URL syntax (`?`, `#`, `%`, `\`) and no
# `.`/`..` path segment (path traversal). `/` and `:` stay allowed: `tunedModels/x`, `meta-llama/Llama-3.1-8B`,
# `anthropic.claude-3-5-sonnet-20240620-v1:0`.
_FORBIDDEN = re.compile(r"[^\x21-\x7e]|[?#%\\]|(?:^|/)\.{1,2}(?:/|$)")


def check_model_name(model: str, param: str = "model") -> None:
    """Refuse (400) a model string that is too long or could change an upstream URL or a header."""
    if not model:
        raise InvalidRequest(f"{param}: must name a model", param=param)
    if len(model) > MAX_MODEL_LENGTH:
        raise InvalidRequest(f"{param}: must be at most {MAX_MODEL_LENGTH} characters, not {len(model)}", param=param)
    if _FORBIDDEN.search(model):
        raise InvalidRequest(
            f"{param}: {model!r} is not a valid model name (printable ASCII without spaces, `?`, `#`, `%`,"
            " backslashes or `.`/`..` path segments)",
            param=param,
        )


def explicit_target(model: str, settings: Settings) -> Target | None:
    """`provider/model` naming a configured provider, as a target; None for a bare model (or another provider)."""
    provider, sep, rest = model.partition("/")
    if sep and rest and provider in settings.providers:
        return Target(provider=provider, model=rest)
    return None


def unrouted(model: str, settings: Settings) -> str:
    """Why no provider serves `model`, naming the configured providers and how to name one of them."""
    configured = ", ".join(settings.providers) or "none"
    provider, sep, rest = model.partition("/")
    if sep and not rest:
        return f"model {model!r} names no model after the provider"
    if sep and provider not in settings.providers:
        return f"no provider named {provider!r} is configured (configured: {configured})"
    if sep:  # a configured provider that a routing plugin (a virtual key's, say) did not plan
        return f"no route to model {model!r} for this caller (configured: {configured})"
    example = next(iter(settings.providers), "PROVIDER")
    return (
        f"no provider serves model {model!r} (configured: {configured}); name one as provider/model,"
        f" e.g. '{example}/{model}', or list the model in one of its keys' `models`"
    )


def resolve_target(model: str, route_prefix: str, settings: Settings, catalog: Catalog | None = None) -> Target | None:
    """The built-in rule (the `routing` plugin's): `provider/model`, else the route's default provider, else the
    first provider whose keys name the model, else the only provider, else the first provider (in config order)
    the model catalog knows the model for (its `models` corrections included)."""
    if (explicit := explicit_target(model, settings)) is not None:
        return explicit
    default = DEFAULT_PROVIDER_BY_PREFIX.get(route_prefix)
    if default in settings.providers:
        return Target(provider=default, model=model)
    for name, entry in settings.providers.items():
        if any(model in key.models for key in entry.keys):
            return Target(provider=name, model=model)
    if len(settings.providers) == 1:
        # One provider serves everything (the demo's mock, a lone self-hosted server): no choice to get wrong,
        # and a client that cannot name a provider (Claude Code's bare `claude-opus-4-8`) still gets an answer.
        return Target(provider=next(iter(settings.providers)), model=model)
    if catalog is not None:
        # Last: a bare `gpt-4o` on /v1 with openai and anthropic configured goes to openai, because the catalog
        # says openai serves it, not because of a guess. No network: the catalog is the bundled data.
        for name in settings.providers:
            if catalog.lookup(name, model) is not None:
                return Target(provider=name, model=model)
    return None
