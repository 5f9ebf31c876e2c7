"""Prompt-cache markers out of a relayed OpenAI-dialect body, for upstreams that refuse them.

OpenRouter- and LiteLLM-style clients put Anthropic's `cache_control` on messages, content parts and tools. OpenAI
caches prompts on its own and rejects the unknown field, so an OpenAI-wire upstream that does not honour markers
gets the body without them. Only those three places are touched (a tool's parameter schema may well have a
property named `cache_control`), and only when the marker's name occurs in the body at all.
"""

from __future__ import annotations

from typing import Any

import msgspec

MARKER = "cache_control"
_NEEDLE = b'"cache_control"'
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENCODER = msgspec.json.Encoder()


def unmarked_fields(body: bytes) -> dict[str, bytes]:
    """`messages` and `tools` without markers, as fields for `relay_body` to set (none when nothing changes)."""
    if _NEEDLE not in body:
        return {}
    try:
        fields = _FIELDS.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return {}  # relay_body reports the broken body
    out: dict[str, bytes] = {}
    for name, strip in (("messages", _strip_message), ("tools", _strip)):
        raw = fields.get(name)
        if raw is None or _NEEDLE not in bytes(raw):
            continue
        items = msgspec.json.decode(raw)
        if isinstance(items, list):
            out[name] = _ENCODER.encode([strip(item) for item in items])
    return out


def _strip(item: Any) -> Any:
    if isinstance(item, dict):
        item.pop(MARKER, None)
    return item


def _strip_message(message: Any) -> Any:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        for part in content:
            _strip(part)
    return _strip(message)
