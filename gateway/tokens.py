"""Local input-token estimate for providers that cannot count upstream (o200k_base, embedded, offline).

tiktoken downloads its tables at first use, which fails offline; bpe-openai embeds them. The count is an
estimate for non-OpenAI models: close for English text, not exact, which count_tokens callers accept.
"""

from __future__ import annotations

import functools
import warnings

import msgspec

from .schemas import anthropic as a

IMAGE_TOKENS = 1600  # what a ~1 megapixel image costs on Claude; a fair flat estimate
_JSON = msgspec.json.Encoder()


@functools.cache  # the encoding is immutable and costs ~60 ms to build: build it once per process
def _encoding():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():  # bpe-openai 0.1.4 uses a deprecated importlib.resources call
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai  # type: ignore[import-untyped]

        return bpe_openai.get_encoding("o200k_base")


def count_text(text: str) -> int:
    return len(_encoding().encode(text)) if text else 0


def estimate_input_tokens(request: a.MessagesRequest) -> int:
    parts: list[str] = []
    images = 0
    if isinstance(request.system, str):
        parts.append(request.system)
    elif isinstance(request.system, list):
        parts.extend(b.text for b in request.system if isinstance(b.text, str))
    for message in request.messages:
        if isinstance(message.content, str):
            parts.append(message.content)
            continue
        for block in message.content:
            images += _collect(block, parts)
    if isinstance(request.tools, list):
        parts.append(_JSON.encode(request.tools).decode())
    return count_text("\n".join(parts)) + images * IMAGE_TOKENS + 4 * len(request.messages)


def _collect(block: a.ContentBlock, parts: list[str]) -> int:
    """Append the block's text to `parts`; return how many images it holds."""
    images = 1 if block.type == "image" else 0
    for value in (block.text, block.thinking, block.name):
        if isinstance(value, str):
            parts.append(value)
    if isinstance(block.input, msgspec.Raw):
        parts.append(bytes(block.input).decode())
    if isinstance(block.content, str):
        parts.append(block.content)
    elif isinstance(block.content, list):
        for inner in block.content:
            images += _collect(inner, parts)
    return images
