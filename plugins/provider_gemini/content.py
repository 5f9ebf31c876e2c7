"""Canonical content blocks -> Gemini parts, for user and model turns (the request direction).

`path` arguments name the offending field in the client's request, so an `InvalidRequest` points at it.
"""

from __future__ import annotations

from typing import NoReturn

import msgspec
from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from gateway import InvalidRequest
from gateway.api import anthropic as a

from . import signatures
from . import wire as g

PDF = "application/pdf"
# Media types Gemini reads from fileData, by URL extension (a fixed table: `mimetypes` varies by host).
MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "pdf": PDF,
}
_DOCUMENT_CONTENT_DECODER = msgspec.json.Decoder(str | list[a.ContentBlock])
# Blocks a user turn may carry that Gemini has no use for: another model's reasoning.
DROPPED = frozenset({"thinking", "redacted_thinking"})


def user_parts(content: str | list[a.ContentBlock], path: str, names: dict[str, str]) -> list[g.Part]:
    """Function responses first (Gemini pairs them with the previous turn's calls), then everything else."""
    if isinstance(content, str):
        return [g.Part(text=content)] if content else []
    responses: list[g.Part] = []
    others: list[g.Part] = []
    for j, block in enumerate(content):
        block_path = f"{path}[{j}]"
        if block.type == "tool_result":
            response, extra = _tool_result(block, block_path, names)
            responses.append(response)
            others.extend(extra)  # images of a tool result follow as ordinary parts
        elif block.type not in DROPPED:
            others.extend(media_parts(block, block_path))
    return responses + others


def model_parts(content: str | list[a.ContentBlock], path: str, names: dict[str, str]) -> list[g.Part]:
    """Text and function calls, with our thought parts and signatures restored (see signatures.py)."""
    if isinstance(content, str):
        return [g.Part(text=content)] if content else []
    parts: list[g.Part] = []
    pending: str | None = None  # a signature that belongs on the next part
    for j, block in enumerate(content):
        if block.type in DROPPED:
            signature = block.signature if isinstance(block.signature, str) else ""
            if signature.startswith(signatures.THOUGHT):
                thought = block.thinking if isinstance(block.thinking, str) else ""
                parts.append(g.Part(text=thought, thought=True, thought_signature=signature[len(signatures.THOUGHT) :]))
            elif signature.startswith(signatures.NEXT_PART):
                if pending is not None:  # two in a row: the first stood on a part with no content
                    parts.append(g.Part(text="", thought_signature=pending))
                pending = signature[len(signatures.NEXT_PART) :]
            continue
        part = _model_part(block, f"{path}[{j}]", names)
        if part is None:
            continue
        if pending is not None:
            part, pending = replace(part, thought_signature=pending), None
        parts.append(part)
    if pending is not None:
        parts.append(g.Part(text="", thought_signature=pending))  # as Gemini sent it: an empty signed text
    return parts


def media_parts(block: a.ContentBlock, path: str) -> list[g.Part]:
    """A user-side block (text, image, document) as parts; empty text gives none."""
    if block.type == "text":
        return [g.Part(text=block.text)] if isinstance(block.text, str) and block.text else []
    if block.type == "image":
        return [_image(block.source, path + ".source")]
    if block.type == "document":
        return _document(block.source, path + ".source")
    _reject(block, path)


def _model_part(block: a.ContentBlock, path: str, names: dict[str, str]) -> g.Part | None:
    if block.type == "text":
        return g.Part(text=block.text) if isinstance(block.text, str) and block.text else None
    if block.type != "tool_use":
        _reject(block, path)
    if not isinstance(block.id, str) or not isinstance(block.name, str) or not block.name:
        raise InvalidRequest("tool_use blocks need an id and a name", param=path)
    names[block.id] = block.name
    args = block.input
    if isinstance(args, msgspec.Raw) and not bytes(args).lstrip().startswith(b"{"):
        raise InvalidRequest("tool_use input must be a JSON object", param=path + ".input")
    return g.Part(function_call=g.FunctionCall(name=block.name, args=args))


def _tool_result(block: a.ContentBlock, path: str, names: dict[str, str]) -> tuple[g.Part, list[g.Part]]:
    """-> (the functionResponse, non-text parts of the result). Gemini names the function, not the call."""
    name = names.get(block.tool_use_id) if isinstance(block.tool_use_id, str) else None
    if name is None:
        raise InvalidRequest("tool_result does not answer a tool_use of an earlier turn", param=path + ".tool_use_id")
    content = block.content
    texts: list[str] = []
    extra: list[g.Part] = []
    if isinstance(content, str):
        texts.append(content)
    elif not isinstance(content, UnsetType):
        for k, item in enumerate([content] if isinstance(content, a.ContentBlock) else content):
            for part in media_parts(item, f"{path}.content[{k}]"):
                if isinstance(part.text, str):
                    texts.append(part.text)
                else:
                    extra.append(part)
    # Google's convention: "output" for a result, "error" for a failure.
    key = "error" if block.is_error is True else "output"
    response = msgspec.Raw(g.ENCODER.encode({key: "\n\n".join(t for t in texts if t)}))
    return g.Part(function_response=g.FunctionResponse(name=name, response=response)), extra


def _image(source: a.Source | str | UnsetType, path: str) -> g.Part:
    if isinstance(source, a.Source):
        if source.type == "base64" and isinstance(source.media_type, str) and isinstance(source.data, str):
            return g.Part(inline_data=g.Blob(mime_type=source.media_type, data=source.data))
        if source.type == "url" and isinstance(source.url, str):
            return g.Part(file_data=g.FileData(file_uri=source.url, mime_type=_guess_type(source.url) or UNSET))
        raise InvalidRequest(f"image source {source.type!r} cannot be sent to Gemini", param=path + ".type")
    raise InvalidRequest("image blocks need a source object", param=path)


def _document(source: a.Source | str | UnsetType, path: str) -> list[g.Part]:
    if not isinstance(source, a.Source):
        raise InvalidRequest("document blocks need a source object", param=path)
    if source.type == "base64" and isinstance(source.data, str):
        media_type = source.media_type if isinstance(source.media_type, str) else PDF
        return [g.Part(inline_data=g.Blob(mime_type=media_type, data=source.data))]
    if source.type == "url" and isinstance(source.url, str):
        return [g.Part(file_data=g.FileData(file_uri=source.url, mime_type=_guess_type(source.url) or PDF))]
    if source.type == "text" and isinstance(source.data, str):
        return [g.Part(text=source.data)] if source.data else []
    if source.type == "content" and isinstance(source.content, msgspec.Raw):
        return _document_content(source.content, path + ".content")
    raise InvalidRequest(f"document source {source.type!r} cannot be sent to Gemini", param=path + ".type")


def _document_content(raw: msgspec.Raw, path: str) -> list[g.Part]:
    try:
        content = _DOCUMENT_CONTENT_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest("document content must be a string or content blocks", param=path) from None
    if isinstance(content, str):
        return [g.Part(text=content)] if content else []
    return [part for k, block in enumerate(content) for part in media_parts(block, f"{path}[{k}]")]


def _guess_type(url: str) -> str | None:
    """The media type a URL's extension implies (Gemini reads it for fileData; unknown is left out)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    name = path.rsplit("/", 1)[-1]
    return MEDIA_TYPES.get(name.rsplit(".", 1)[-1].lower()) if "." in name else None


def _reject(block: a.ContentBlock, path: str) -> NoReturn:
    t = block.type
    if t in ("server_tool_use", "container_upload") or t.startswith("mcp_") or t.endswith("_tool_result"):
        raise InvalidRequest(f"server tool block {t!r} cannot be sent to Gemini", param=path)
    raise InvalidRequest(f"content block type {t!r} cannot be sent to Gemini", param=path + ".type")
