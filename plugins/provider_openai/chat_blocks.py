"""Anthropic content blocks -> OpenAI Chat messages and content parts (the A->O request direction).

`path` arguments name the offending field in the client's request, so an `InvalidRequest` points at it.
"""

from __future__ import annotations

from typing import NoReturn

import msgspec
from msgspec import UNSET, UnsetType

from gateway.api import InvalidRequest, arguments_json
from gateway.api import anthropic as a
from gateway.api import openai as o

# Blocks the model produced that an OpenAI-compatible model cannot verify or use: signatures are Anthropic's.
DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
_DOCUMENT_CONTENT_DECODER = msgspec.json.Decoder(str | list[a.ContentBlock])
DEFAULT_PDF_NAME = "document.pdf"  # OpenAI wants a filename alongside file_data


def system_content(content: str | list[a.ContentBlock], path: str, markers: bool) -> str | list[o.ContentPart]:
    """The system prompt as one text, or, when `markers` (the upstream honours them) and a block carries one, as
    text parts that keep each block's `cache_control`, OpenRouter's shape."""
    if markers and isinstance(content, list) and any(_marker(b) is not UNSET for b in content):
        system_text(content, path)  # the same checks
        return [_text(block.text, _marker(block)) for block in content if block.text]
    return system_text(content, path)


def system_text(content: str | list[a.ContentBlock], path: str) -> str:
    """System prompt text: text blocks joined with blank lines (cache_control and citations dropped)."""
    if isinstance(content, str):
        return content
    texts = []
    for j, block in enumerate(content):
        if block.type != "text" or not isinstance(block.text, str):
            raise InvalidRequest(f"system content must be text blocks, got {block.type!r}", param=f"{path}[{j}]")
        texts.append(block.text)
    return "\n\n".join(t for t in texts if t)


def user_messages(content: str | list[a.ContentBlock], path: str, markers: bool = False) -> list[o.ChatMessage]:
    """One `tool` message per tool_result, in order, then a user message with everything else (text parts keep
    their `cache_control` when `markers`)."""
    if isinstance(content, str):
        return [o.ChatMessage(role="user", content=content)]
    messages: list[o.ChatMessage] = []
    parts: list[o.ContentPart] = []
    for j, block in enumerate(content):
        block_path = f"{path}[{j}]"
        if block.type == "tool_result":
            message, extra = _tool_result(block, block_path)
            messages.append(message)
            parts.extend(extra)  # images from a tool result follow in the user message
        elif block.type not in DROPPED_BLOCKS:
            parts.extend(user_parts(block, block_path, markers))
    if parts:
        only_text = len(parts) == 1 and isinstance(parts[0].text, str) and parts[0].cache_control is UNSET
        messages.append(o.ChatMessage(role="user", content=parts[0].text if only_text else parts))
    return messages


def assistant_message(content: str | list[a.ContentBlock], path: str) -> o.ChatMessage | None:
    """Text joined into `content` (null when there are only tool calls); None when nothing is left."""
    if isinstance(content, str):
        return o.ChatMessage(role="assistant", content=content) if content else None
    texts: list[str] = []
    calls: list[o.ToolCall] = []
    for j, block in enumerate(content):
        block_path = f"{path}[{j}]"
        if block.type == "text":
            texts.append(block.text if isinstance(block.text, str) else "")
        elif block.type == "tool_use":
            calls.append(_tool_call(block, block_path))
        elif block.type not in DROPPED_BLOCKS:
            _reject(block, block_path)
    text = "".join(texts)
    if not text and not calls:
        return None
    return o.ChatMessage(role="assistant", content=text or None, tool_calls=calls or UNSET)


def user_parts(block: a.ContentBlock, path: str, markers: bool = False) -> list[o.ContentPart]:
    """A user-side block as OpenAI parts (empty text gives none)."""
    if block.type == "text":
        return [_text(block.text, _marker(block) if markers else UNSET)] if block.text else []
    if block.type == "image" and not isinstance(block.source, str):
        return [_image(block.source, path + ".source")]
    if block.type == "document":
        return _document(block, path)
    _reject(block, path)


def _reject(block: a.ContentBlock, path: str) -> NoReturn:
    t = block.type
    if t in ("server_tool_use", "container_upload") or t.startswith("mcp_") or t.endswith("_tool_result"):
        raise InvalidRequest(f"server tool block {t!r} cannot be sent to an OpenAI-compatible model", param=path)
    raise InvalidRequest(f"content block type {t!r} cannot be translated here", param=path + ".type")


def _text(text: str | UnsetType, marker: o.CacheControl | UnsetType = UNSET) -> o.ContentPart:
    return o.ContentPart(type="text", text=text if isinstance(text, str) else "", cache_control=marker)


def _marker(block: a.ContentBlock) -> o.CacheControl | UnsetType:
    """A block's `cache_control` in the OpenAI-dialect spelling (the same fields)."""
    marker = block.cache_control
    if isinstance(marker, a.CacheControl):
        return o.CacheControl(type=marker.type, ttl=marker.ttl)
    return UNSET


def _tool_call(block: a.ContentBlock, path: str) -> o.ToolCall:
    if not isinstance(block.id, str) or not isinstance(block.name, str):
        raise InvalidRequest("tool_use blocks need an id and a name", param=path)
    function = o.FunctionCall(name=block.name, arguments=arguments_json(block.input))
    return o.ToolCall(id=block.id, function=function)


def _tool_result(block: a.ContentBlock, path: str) -> tuple[o.ChatMessage, list[o.ContentPart]]:
    """-> (tool message with the text, non-text parts for the following user message)."""
    if not isinstance(block.tool_use_id, str) or not block.tool_use_id:
        raise InvalidRequest("tool_result blocks need a tool_use_id", param=path + ".tool_use_id")
    content = block.content
    texts: list[str] = []
    extra: list[o.ContentPart] = []
    if isinstance(content, str):
        texts.append(content)
    elif not isinstance(content, UnsetType):
        inner = [content] if isinstance(content, a.ContentBlock) else content
        for k, item in enumerate(inner):
            for part in user_parts(item, f"{path}.content[{k}]"):
                if isinstance(part.text, str):
                    texts.append(part.text)
                else:
                    extra.append(part)
    text = "\n\n".join(t for t in texts if t)
    if block.is_error is True:
        text = f"Error: {text}" if text else "Error"  # OpenAI tool messages have no error flag
    return o.ChatMessage(role="tool", tool_call_id=block.tool_use_id, content=text), extra


def _image(source: a.Source | UnsetType, path: str) -> o.ContentPart:
    if isinstance(source, UnsetType):
        raise InvalidRequest("image blocks need a source", param=path)
    if source.type == "base64" and isinstance(source.media_type, str) and isinstance(source.data, str):
        url = f"data:{source.media_type};base64,{source.data}"
    elif source.type == "url" and isinstance(source.url, str):
        url = source.url
    else:
        raise InvalidRequest(f"image source {source.type!r} cannot be translated", param=path + ".type")
    return o.ContentPart(type="image_url", image_url=o.ImageUrl(url=url))


def _document(block: a.ContentBlock, path: str) -> list[o.ContentPart]:
    source = block.source
    if not isinstance(source, a.Source):
        raise InvalidRequest("document blocks need a source object", param=path + ".source")
    if source.type == "base64" and source.media_type == "application/pdf" and isinstance(source.data, str):
        filename = block.title if isinstance(block.title, str) and block.title else DEFAULT_PDF_NAME
        file = o.FilePart(file_data=f"data:application/pdf;base64,{source.data}", filename=filename)
        return [o.ContentPart(type="file", file=file)]
    if source.type == "text" and isinstance(source.data, str):
        return [_text(source.data)] if source.data else []
    if source.type == "content" and not isinstance(source.content, UnsetType):
        return _document_content(source.content, path + ".source.content")
    raise InvalidRequest(
        f"document source {source.type!r} cannot be translated; use base64 PDF or text",
        param=path + ".source.type",
    )


def _document_content(raw: msgspec.Raw, path: str) -> list[o.ContentPart]:
    try:
        content = _DOCUMENT_CONTENT_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest("document content must be a string or content blocks", param=path) from None
    if isinstance(content, str):
        return [_text(content)] if content else []
    return [part for k, block in enumerate(content) for part in user_parts(block, f"{path}[{k}]")]
