"""Prompt-cache markers (`cache_control`) in a canonical request: counted, removed, added.

Anthropic takes at most four markers in one request (the top-level automatic one included) and answers more with
a 400; the gateway relays that answer for Anthropic targets and, for providers whose own form of the marker it
writes (Bedrock's `cachePoint`), drops all of a request's markers instead, as it does for providers that cache
on their own (OpenAI, Gemini). Pure functions on frozen Structs: a changed request is a copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from msgspec import UNSET, Struct, UnsetType, field
from msgspec.structs import replace

from .schemas import anthropic as a

MAX_CACHE_MARKERS = 4


class _Strict(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What `gateway.config.ConfigStruct` is (strict: an unknown key is an error), declared here so that the config
    module can import the Structs below without an import cycle."""


class InjectionPoint(_Strict, frozen=True):
    """Where auto-injection puts a marker: the `index`th system block, tool, or message (of `role`, if given;
    negative counts from the end). A message's marker goes on its last block that can take one."""

    location: Literal["system", "tools", "message"] = "message"
    role: Literal["user", "assistant"] | None = None
    index: int = -1


# The system prompt, and the conversation so far (which caches the tools and the system prompt before it too).
DEFAULT_POINTS = (InjectionPoint(location="system"), InjectionPoint(location="message"))


class PromptCacheConfig(_Strict, frozen=True):
    """`providers.<name>.prompt_cache`: markers added for clients that send none (see plugins/prompt_cache)."""

    auto_inject: bool = False
    ttl: Literal["5m", "1h"] = "5m"
    cache_control_injection_points: list[InjectionPoint] = field(default_factory=lambda: list(DEFAULT_POINTS))


def cache_markers(req: a.MessagesRequest) -> int:
    """How many `cache_control` markers the request carries, wherever they are."""
    count = 0 if isinstance(req.cache_control, UnsetType) else 1
    count += sum(1 for tool in req.tools or () if _marked(tool.cache_control))
    if isinstance(req.system, list):
        count += sum(1 for block in _walk(req.system) if _marked(block.cache_control))
    for message in req.messages:
        if isinstance(message.content, list):
            count += sum(1 for block in _walk(message.content) if _marked(block.cache_control))
    return count


def without_cache_markers(req: a.MessagesRequest) -> a.MessagesRequest:
    """The request with every marker removed (the same object when it had none)."""
    if not cache_markers(req):
        return req
    tools = [replace(tool, cache_control=UNSET) for tool in req.tools] if isinstance(req.tools, list) else UNSET
    system = _unmarked(req.system) if isinstance(req.system, list) else req.system
    messages = [replace(m, content=_unmarked(m.content)) if isinstance(m.content, list) else m for m in req.messages]
    return replace(req, tools=tools, system=system, messages=messages, cache_control=UNSET)


def _marked(control: a.CacheControl | UnsetType | None) -> bool:
    return isinstance(control, a.CacheControl)


def _walk(blocks: list[a.ContentBlock]) -> Iterator[a.ContentBlock]:
    """The blocks and those nested in them (a tool_result's content)."""
    for block in blocks:
        yield block
        if isinstance(block.content, list):
            yield from _walk(block.content)


def _unmarked(blocks: list[a.ContentBlock]) -> list[a.ContentBlock]:
    out = []
    for block in blocks:
        if isinstance(block.content, list):
            block = replace(block, content=_unmarked(block.content))
        out.append(replace(block, cache_control=UNSET) if _marked(block.cache_control) else block)
    return out
