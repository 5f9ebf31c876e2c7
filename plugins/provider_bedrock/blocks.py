"""Anthropic content blocks -> Converse content blocks (the request direction).

`path` arguments name the offending field in the client's request, so an `InvalidRequest` points at it.
"""

from __future__ import annotations

import base64
import re
from typing import NoReturn

from msgspec import UNSET, Raw, UnsetType

from gateway import InvalidRequest
from gateway.api import anthropic as a

from . import wire as w

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
# Converse document names allow letters, digits, single spaces, hyphens, parentheses and square brackets.
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9\s\-()\[\]]+")
_SPACES = re.compile(r"\s+")
MAX_NAME = 200


def cache_point(control: a.CacheControl) -> w.CachePoint:
    """A cache_control breakpoint: Converse marks it with a cachePoint block after the cached content."""
    return w.CachePoint(ttl=control.ttl)


def text_blocks(content: str | list[a.ContentBlock], path: str) -> list[w.Block]:
    """System prompt blocks: text only (Converse rejects blank text, so empty ones are dropped)."""
    if isinstance(content, str):
        return [w.Block(text=content)] if content else []
    out: list[w.Block] = []
    for j, block in enumerate(content):
        if block.type != "text" or not isinstance(block.text, str):
            raise InvalidRequest(f"system content must be text blocks, got {block.type!r}", param=f"{path}[{j}]")
        if block.text:
            out.append(w.Block(text=block.text))
        if block.cache_control:
            out.append(w.Block(cache_point=cache_point(block.cache_control)))
    return out


def message_blocks(content: str | list[a.ContentBlock], path: str) -> list[w.Block]:
    if isinstance(content, str):
        return [w.Block(text=content)] if content else []
    out: list[w.Block] = []
    for j, block in enumerate(content):
        out.extend(_block(block, f"{path}[{j}]"))
        if block.cache_control:
            out.append(w.Block(cache_point=cache_point(block.cache_control)))
    return out


def tool_names_used(messages: list[w.Message]) -> list[str]:
    """Names of the tools the conversation called, first use first."""
    names = (b.tool_use.name for m in messages for b in m.content if isinstance(b.tool_use, w.ToolUse))
    return list(dict.fromkeys(names))


def _block(block: a.ContentBlock, path: str) -> list[w.Block]:
    if block.type == "text":
        return [w.Block(text=block.text)] if block.text else []
    if block.type == "image":
        return [w.Block(image=_image(block, path))]
    if block.type == "document":
        return [w.Block(document=_document(block, path))]
    if block.type == "tool_use":
        return [w.Block(tool_use=_tool_use(block, path))]
    if block.type == "tool_result":
        return [w.Block(tool_result=_tool_result(block, path))]
    if block.type == "thinking":
        text = block.thinking if isinstance(block.thinking, str) else ""
        reasoning = w.Reasoning(reasoning_text=w.ReasoningText(text=text, signature=block.signature))
        return [w.Block(reasoning_content=reasoning)]
    if block.type == "redacted_thinking" and isinstance(block.data, str):
        return [w.Block(reasoning_content=w.Reasoning(redacted_content=block.data))]
    _reject(block, path)


def _reject(block: a.ContentBlock, path: str) -> NoReturn:
    raise InvalidRequest(f"content block type {block.type!r} is not supported by bedrock", param=path + ".type")


def _base64_source(block: a.ContentBlock, path: str) -> a.Source:
    source = block.source
    if not isinstance(source, a.Source) or source.type not in ("base64", "text") or not isinstance(source.data, str):
        kind = source.type if isinstance(source, a.Source) else "missing"
        raise InvalidRequest(
            f"{block.type} source {kind!r} is not supported by bedrock: send the data inline (base64)",
            param=path + ".source",
        )
    return source


def _image(block: a.ContentBlock, path: str) -> w.Image:
    source = _base64_source(block, path)
    image_format = IMAGE_FORMATS.get(source.media_type or "")
    if source.type != "base64" or image_format is None:
        raise InvalidRequest(
            f"image media type {source.media_type!r} is not supported (png, jpeg, gif, webp)",
            param=path + ".source.media_type",
        )
    return w.Image(format=image_format, source=w.Source(data=source.data))


def _document(block: a.ContentBlock, path: str) -> w.Document:
    """PDFs as they are; plain text (a text source or base64 text/plain) as a txt document."""
    source = _base64_source(block, path)
    data = source.data if isinstance(source.data, str) else ""
    if source.type == "text":
        data, doc_format = base64.b64encode(data.encode()).decode(), "txt"
    elif source.media_type == "application/pdf":
        doc_format = "pdf"
    elif source.media_type == "text/plain":
        doc_format = "txt"
    else:
        raise InvalidRequest(
            f"document media type {source.media_type!r} is not supported (application/pdf, text/plain)",
            param=path + ".source.media_type",
        )
    return w.Document(
        format=doc_format,
        name=document_name(block.title, path),
        source=w.Source(data=data),
        context=block.context if isinstance(block.context, str) else UNSET,
    )


def document_name(title: str | UnsetType | None, path: str) -> str:
    """The title, made a valid Converse document name; else one derived from where the block is."""
    raw = title if isinstance(title, str) and title.strip() else path.replace(".", " ")
    name = _SPACES.sub(" ", _NOT_IN_NAME.sub(" ", raw)).strip()[:MAX_NAME].strip()
    return name or "document"


def _tool_use(block: a.ContentBlock, path: str) -> w.ToolUse:
    if not isinstance(block.id, str) or not isinstance(block.name, str):
        raise InvalidRequest("tool_use blocks need an id and a name", param=path)
    tool_input = block.input if isinstance(block.input, Raw) else Raw(b"{}")
    return w.ToolUse(tool_use_id=block.id, name=block.name, input=tool_input)


def _tool_result(block: a.ContentBlock, path: str) -> w.ToolResult:
    if not isinstance(block.tool_use_id, str) or not block.tool_use_id:
        raise InvalidRequest("tool_result blocks need a tool_use_id", param=path + ".tool_use_id")
    content = [block.content] if isinstance(block.content, a.ContentBlock) else block.content
    inner: list[w.Block] = []
    if isinstance(content, str):
        inner = [w.Block(text=content)] if content else []
    elif isinstance(content, list):
        for j, item in enumerate(content):
            if item.type not in ("text", "image", "document"):
                _reject(item, f"{path}.content[{j}]")
            inner.extend(_block(item, f"{path}.content[{j}]"))
    # `status` only for errors: some Converse models refuse the field, and success is the default.
    status = "error" if block.is_error is True else UNSET
    return w.ToolResult(tool_use_id=block.tool_use_id, content=inner, status=status)
