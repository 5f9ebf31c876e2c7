"""Prompt-cache auto-injection: `cache_control` markers added to the requests of clients that send none.

Configured per provider (`providers.<name>.prompt_cache {auto_inject, ttl, cache_control_injection_points}`),
overridden per request by `x-bf-prompt-cache-auto-inject: true|false`. Runs on gw_transform_request, so once per
attempted target, each time from the client's request (a fallback to another provider is decided again), and
only for targets that act on markers (Anthropic, Bedrock): elsewhere they would be dropped anyway. Markers go
where the points say, never on a spot already marked, and never beyond four in the request with the client's
own counted first. The call is a changed copy; a relayed Anthropic body gets the same markers in its JSON, every
other byte of it unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec.structs import replace

from gateway import CallContext, ChatCall, hookimpl
from gateway.api import InvalidRequest, NativeBody, PromptCacheConfig, patch_native
from gateway.api import anthropic as a

from .spots import Spot, find_spots, mark_json, mark_request

HEADER = "x-bf-prompt-cache-auto-inject"
HONOURING = frozenset({"anthropic", "bedrock"})  # provider kinds that act on markers
_SWITCH = {"true": True, "false": False}
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])


@hookimpl
def gw_transform_request(call: ChatCall, ctx: CallContext) -> ChatCall | None:
    target = call.target
    if target is None:
        return None
    provider = ctx.settings.providers.get(target.provider)
    config = provider.prompt_cache if provider is not None else PromptCacheConfig()
    if not _wanted(ctx, config) or provider is None or ctx.settings.provider_kind(target.provider) not in HONOURING:
        return None
    spots = find_spots(call.request, config.cache_control_injection_points)
    if not spots:
        return None
    control = a.CacheControl(type="ephemeral", ttl=config.ttl)
    request = mark_request(call.request, spots, control)
    native = call.native
    relayed = native is not None and native.dialect == ctx.wire_dialect(target)
    return replace(call, request=request, native=_marked_native(native, spots, config.ttl) if relayed else None)


def _wanted(ctx: CallContext, config: PromptCacheConfig) -> bool:
    value = ctx.headers.get(HEADER)
    if value is None:
        return config.auto_inject
    switch = _SWITCH.get(value.strip().lower())
    if switch is None:
        raise InvalidRequest(f"{HEADER} must be true or false, got {value!r}", param=HEADER)
    return switch


def _marked_native(native: NativeBody | None, spots: list[Spot], ttl: str) -> NativeBody | None:
    assert native is not None
    raw = _FIELDS.decode(native.body)  # the dialect decoded this body already: it is a JSON object
    names = {"system" if s.location == "system" else "tools" if s.location == "tools" else "messages" for s in spots}
    fields: dict[str, Any] = {name: msgspec.json.decode(raw[name]) for name in names}
    mark_json(fields, spots, {"type": "ephemeral", "ttl": ttl})
    return patch_native(native, fields)
