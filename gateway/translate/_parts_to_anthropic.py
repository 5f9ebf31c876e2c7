"""OpenAI Chat content parts -> Anthropic content blocks (the O->A request direction, api-spec section 6).

`path` arguments name the offending field in the client's request, so an `InvalidRequest` points at it.
"""

from __future__ import annotations

from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from ..errors import InvalidRequest
from ..schemas import anthropic as a
from ..schemas import openai as o

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# Media types clients commonly misspell; Anthropic accepts only the canonical name.
_MEDIA_TYPE_ALIASES = {"image/jpg": "image/jpeg"}
PDF = "application/pdf"
# Validates "is a JSON object" without materialising nested values.

Content = str | list[o.ContentPart] | None | UnsetType
Marker = o.CacheControl | None | UnsetType


def cache_control(marker: Marker) -> a.CacheControl | UnsetType:
    """An OpenAI-dialect client's cache marker in Anthropic's form (`ttl` kept); none for null or absent."""
    if not isinstance(marker, o.CacheControl):
        return UNSET
    return a.CacheControl(type=marker.type, ttl=marker.ttl)


def marked(block: a.ContentBlock, marker: Marker) -> a.ContentBlock:
    """`block` with the marker, if there is one (a part's marker belongs to the block made from that part)."""
    control = cache_control(marker)
    return block if isinstance(control, UnsetType) else replace(block, cache_control=control)


def mark_last(blocks: list[a.ContentBlock], marker: Marker) -> list[a.ContentBlock]:
    """A message-level marker (LiteLLM's spelling) caches the prefix through the message: its last block."""
    if blocks and isinstance(marker, o.CacheControl):
        blocks[-1] = marked(blocks[-1], marker)
    return blocks


def text_block(text: str) -> a.ContentBlock | None:
    """A text block, or None for blank text: Anthropic rejects empty and whitespace-only text blocks."""
    return a.ContentBlock(type="text", text=text) if text.strip() else None


def system_blocks(content: Content, path: str) -> list[a.ContentBlock]:
    """System/developer text as blocks, one per non-blank part, each keeping its cache marker."""
    if not isinstance(content, list):
        block = text_block(content) if isinstance(content, str) else None
        return [block] if block else []
    blocks = []
    for j, part in enumerate(content):
        if part.type != "text" or not isinstance(part.text, str):
            raise InvalidRequest(f"only text content parts are allowed here, got {part.type!r}", param=f"{path}[{j}]")
        block = text_block(part.text)
        if block is not None:
            blocks.append(marked(block, part.cache_control))
    return blocks


def user_blocks(content: Content, path: str) -> list[a.ContentBlock]:
    """User (or tool) content: text, images and PDF files; blank text is dropped."""
    if isinstance(content, str):
        block = text_block(content)
        return [block] if block else []
    if not isinstance(content, list):
        return []
    blocks = []
    for j, part in enumerate(content):
        block = _user_part(part, f"{path}[{j}]")
        if block is not None:
            blocks.append(marked(block, part.cache_control))
    return blocks


def assistant_text_blocks(content: Content, path: str) -> list[a.ContentBlock]:
    """Assistant history: text and refusal parts both become text (it is what the model said)."""
    if not isinstance(content, list):
        return user_blocks(content, path)
    blocks = []
    for j, part in enumerate(content):
        text = part.text if part.type == "text" else part.refusal if part.type == "refusal" else None
        if not isinstance(text, str):
            raise InvalidRequest(
                f"assistant content parts must be text or refusal, got {part.type!r}", param=f"{path}[{j}]"
            )
        block = text_block(text)
        if block is not None:
            blocks.append(marked(block, part.cache_control))
    return blocks


def _user_part(part: o.ContentPart, path: str) -> a.ContentBlock | None:
    if part.type == "text":
        if not isinstance(part.text, str):
            raise InvalidRequest("text part needs a `text` string", param=path + ".text")
        return text_block(part.text)
    if part.type == "image_url":
        if isinstance(part.image_url, UnsetType):
            raise InvalidRequest("image_url part needs an `image_url` object", param=path + ".image_url")
        return _image(part.image_url.url, path + ".image_url.url")
    if part.type == "file":
        if isinstance(part.file, UnsetType):
            raise InvalidRequest("file part needs a `file` object", param=path + ".file")
        return _file(part.file, path + ".file")
    if part.type == "input_audio":
        raise InvalidRequest("audio input is not supported by this model", param=path)
    raise InvalidRequest(f"unsupported content part type {part.type!r}", param=path + ".type")


def _image(url: str, path: str) -> a.ContentBlock:
    if url[:8].lower().startswith(("http://", "https://")):
        return a.ContentBlock(type="image", source=a.Source(type="url", url=url))
    media_type, data = parse_data_url(url, path)
    media_type = _MEDIA_TYPE_ALIASES.get(media_type, media_type)
    if media_type not in IMAGE_MEDIA_TYPES:
        raise InvalidRequest(
            f"image media type {media_type!r} is not supported; use jpeg, png, gif or webp",
            param=path,
        )
    return a.ContentBlock(type="image", source=a.Source(type="base64", media_type=media_type, data=data))


def _file(file: o.FilePart, path: str) -> a.ContentBlock:
    if not isinstance(file.file_data, str):
        # file_id refers to OpenAI's file store, which the other provider cannot read.
        raise InvalidRequest("file parts must carry file_data; file_id cannot be translated", param=path + ".file_id")
    filename = file.filename if isinstance(file.filename, str) else UNSET
    if file.file_data.startswith("data:"):
        media_type, data = parse_data_url(file.file_data, path + ".file_data")
    elif isinstance(filename, str) and filename.lower().endswith(".pdf"):
        media_type, data = PDF, file.file_data  # bare base64, typed by its file name
    else:
        raise InvalidRequest(
            "file_data must be a data URL (data:application/pdf;base64,...)", param=path + ".file_data"
        )
    if media_type != PDF:
        raise InvalidRequest(f"file media type {media_type!r} is not supported; only PDF is", param=path + ".file_data")
    source = a.Source(type="base64", media_type=PDF, data=data)
    return a.ContentBlock(type="document", source=source, title=filename)


def parse_data_url(url: str, path: str) -> tuple[str, str]:
    """`data:<media type>[;params];base64,<data>` -> (lower-cased media type, data)."""
    header, sep, data = url.partition(",")
    if not header.lower().startswith("data:") or not sep:
        raise InvalidRequest("expected an http(s) URL or a base64 data URL", param=path)
    media_type, *params = header[5:].split(";")
    if "base64" not in (p.strip().lower() for p in params) or not data:
        raise InvalidRequest("data URLs must be base64-encoded (data:<type>;base64,<data>)", param=path)
    return media_type.strip().lower(), data
