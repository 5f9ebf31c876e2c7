"""Request adaptation: each attempt's request fitted to what its target's model takes, from the model catalog.

Runs last in gw_transform_request, so it sees the request every other plugin made, and once per attempted
target, so a fallback to another model is adapted again from the client's request. What it does (see `rules`):
output caps clamped to the model's limit, thinking and effort dropped for models that do not reason and effort
words mapped to the ones an OpenAI model takes, sampling parameters dropped where the model takes none, images
and PDFs refused (400) for text-only models, later system turns moved to the front for self-hosted servers and
over-long user ids hashed for OpenAI-wire upstreams. Each change is logged at debug and named in the response's
`x-bf-adapted` header in the client's words; with `client.drop_unsupported_params: false` a change that would
lose a client parameter is a 400 naming it instead. A request no rule touches keeps its relayed bytes exactly.

Cost: one catalog lookup (remembered after the first) and a few attribute checks per attempt; a body relayed to an
OpenAI-wire upstream has its few top-level fields decoded once (1-3 us a call in all).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from msgspec import UNSET
from msgspec.structs import replace

from gateway import CallContext, ChatCall, hookimpl
from gateway.api import CATALOG, InvalidRequest, NativeBody, patch_native

from .rules import RULES, WIRE_RULES, Adapting

HEADER = "x-bf-adapted"
log = logging.getLogger("gateway.adaptation")


@hookimpl(trylast=True)
def gw_transform_request(call: ChatCall, ctx: CallContext) -> ChatCall | None:
    target = call.target
    if target is None:
        return None
    ctx.set_header(HEADER, None)  # a previous target's adaptation does not hold for this one
    info = ctx.app[CATALOG].lookup(target.provider, target.model)
    state = Adapting(call, info, ctx.settings.upstream_kind(target.provider), ctx.wire_dialect(target))
    for rule in RULES if info is not None else ():
        rule(state)
    for rule in WIRE_RULES:
        rule(state)
    if not state.fired:
        return None
    names = [f.openai if call.dialect == "openai" else f.anthropic for f in state.fired]
    if not ctx.settings.client.drop_unsupported_params:
        refused = next((n for f, n in zip(state.fired, names, strict=True) if f.dropped), None)
        if refused is not None:
            why = next(f.why for f, n in zip(state.fired, names, strict=True) if n == refused)
            raise InvalidRequest(f"{refused} is not supported as sent ({why})", param=refused)
    for fired, name in zip(state.fired, names, strict=True):
        log.debug("adapted %s for %s: %s", name, state.model, fired.why)
    ctx.set_header(HEADER, ",".join(dict.fromkeys(names)))
    return replace(call, request=state.request, native=_native(state))


def _native(state: Adapting) -> NativeBody | None:
    """The client's body made to agree with the adapted request, when the target is sent it as written."""
    call, native = state.call, state.call.native
    if native is None or native.dialect != state.wire:
        return None  # not relayed (translated from the request), or no body to begin with
    if native.dialect == "openai":
        return patch_native(native, state.openai_patch) if state.openai_patch else native
    return patch_native(native, _changed_fields(call.request, state.request))


def _changed_fields(before: msgspec.Struct, after: msgspec.Struct) -> dict[str, Any]:
    """Top-level fields of the canonical (Anthropic) request a rule changed: their new value, None if removed."""
    changed: dict[str, Any] = {}
    for name in before.__struct_fields__:
        old, new = getattr(before, name), getattr(after, name)
        if old is not new:
            changed[name] = None if new is UNSET else new
    return changed
