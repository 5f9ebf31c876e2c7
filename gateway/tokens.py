"""Sizing a prompt in tokens: a cheap upper bound, and an estimate with the o200k tokenizer.

Two uses with two needs. Budgets reserve before a call (`gw_transform_request`): they must not fall short of
what the upstream will bill, and they run on every governed call, so they take the upper bound first (the text's
UTF-8 bytes: a byte-level BPE tokenizer, as every provider's is, never makes more tokens than bytes) and pay for
the tokenizer (~30 MB/s) only when that bound does not fit. A stream that ends without the provider's usage is
billed with the estimate. Media are priced by each provider's rules (`MediaRules`): an image, a PDF page.

tiktoken downloads its tables at first use, which fails offline; bpe-openai embeds them.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
import warnings
from typing import TYPE_CHECKING

import msgspec
from msgspec import Struct

from .schemas import anthropic as a

if TYPE_CHECKING:
    from .call import ChatCall

_JSON = msgspec.json.Encoder()
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
MESSAGE_OVERHEAD = 4  # tokens a message's framing costs (role, separators)


class MediaRules(Struct, frozen=True, kw_only=True):
    """How a provider counts what is not plain text, at the high end (a reservation must not fall short)."""

    image_tokens: int  # the most one image can cost
    pdf_page_tokens: int  # one PDF page: its text and its page image
    unknown_pdf_pages: int = 100  # a PDF the gateway cannot read (a URL): the API's page limit
    text_factor: float = 1.0  # the provider's tokens per o200k token, for the estimate
    tools_overhead: int = 0  # the system prompt a provider adds when tools are offered


# Claude (Anthropic, Bedrock): an image is at most ~1.15 megapixels / 750 = ~1,600 tokens; a PDF page is 1,500 to
# 3,000 text tokens plus its image; Claude's tokenizer makes up to ~35% more tokens than o200k; tool use adds a
# system prompt of ~350 tokens.
CLAUDE = MediaRules(image_tokens=1_600, pdf_page_tokens=4_600, text_factor=1.35, tools_overhead=500)
# OpenAI: 85 + 170 per 512px tile (at most 8) for the 4o family, up to ~3,800 for the patch-based models.
OPENAI = MediaRules(image_tokens=3_800, pdf_page_tokens=6_800)
# gpt-4o-mini bills images at 2,833 + 5,667 per tile (its token price is that much lower).
OPENAI_4O_MINI = MediaRules(image_tokens=48_200, pdf_page_tokens=51_200)
# Gemini: 258 tokens per 768px tile (a 3072px image: 16 tiles), up to 1,120 per PDF page at high resolution.
GEMINI = MediaRules(image_tokens=4_128, pdf_page_tokens=1_120, unknown_pdf_pages=1_000)
FREE = MediaRules(image_tokens=0, pdf_page_tokens=0, unknown_pdf_pages=0)  # the mock provider
DEFAULT = CLAUDE  # the highest per image and page of the common ones but gpt-4o-mini


class PromptSize(Struct, kw_only=True):
    """What a prompt holds, measured once: its text (and the text's UTF-8 size), images and PDF pages."""

    texts: list[str]
    text_bytes: int
    messages: int
    images: int = 0
    pdf_pages: int = 0  # of the PDFs the gateway could read
    unknown_pdfs: int = 0  # PDFs it could not (URLs, files)
    has_tools: bool = False


def upper_bound(size: PromptSize, rules: MediaRules) -> int:
    """Tokens the prompt cannot exceed: one per byte of text, and media at their most."""
    return size.text_bytes + _media(size, rules) + MESSAGE_OVERHEAD * size.messages


def estimate(size: PromptSize, rules: MediaRules) -> int:
    """The prompt's tokens as the provider would count them, near enough (the o200k tokenizer, scaled)."""
    text = math.ceil(count_text("\n".join(size.texts)) * rules.text_factor)
    return text + _media(size, rules) + MESSAGE_OVERHEAD * size.messages


def estimate_input_tokens(request: a.MessagesRequest, rules: MediaRules = DEFAULT) -> int:
    """The count_tokens answer of providers that cannot count upstream."""
    return estimate(measure(request), rules)


def count_text(text: str) -> int:
    return len(_encoding().encode(text)) if text else 0


def prompt_size(call: ChatCall) -> PromptSize:
    """What a call's prompt holds; a body with no canonical form (only its own dialect's provider can serve it)
    is sized by its bytes."""
    if call.translation_error is not None and call.native is not None:
        body = call.native.body
        return PromptSize(texts=[body.decode(errors="replace")], text_bytes=len(body), messages=1)
    return measure(call.request)


def measure(request: a.MessagesRequest) -> PromptSize:
    size = PromptSize(texts=[], text_bytes=0, messages=len(request.messages))
    if isinstance(request.system, str):
        _text(size, request.system)
    elif isinstance(request.system, list):
        for block in request.system:
            _block(size, block)
    for message in request.messages:
        if isinstance(message.content, str):
            _text(size, message.content)
        else:
            for block in message.content:
                _block(size, block)
    if isinstance(request.tools, list) and request.tools:
        size.has_tools = True
        _text(size, _JSON.encode(request.tools).decode())
    return size


def _media(size: PromptSize, rules: MediaRules) -> int:
    pages = size.pdf_pages + size.unknown_pdfs * rules.unknown_pdf_pages
    tools = rules.tools_overhead if size.has_tools else 0
    return size.images * rules.image_tokens + pages * rules.pdf_page_tokens + tools


def _text(size: PromptSize, text: str) -> None:
    size.texts.append(text)
    size.text_bytes += len(text) if text.isascii() else len(text.encode())


def _block(size: PromptSize, block: a.ContentBlock) -> None:
    if block.type == "image":
        size.images += 1
    elif block.type == "document":
        _document(size, block)
    for value in (block.text, block.thinking, block.name):
        if isinstance(value, str):
            _text(size, value)
    if isinstance(block.input, msgspec.Raw):
        _text(size, bytes(block.input).decode(errors="replace"))
    if isinstance(block.content, str):
        _text(size, block.content)
    elif isinstance(block.content, list):
        for inner in block.content:
            _block(size, inner)


def _document(size: PromptSize, block: a.ContentBlock) -> None:
    source = block.source
    if not isinstance(source, a.Source):
        return
    if source.type == "text" and isinstance(source.data, str):
        _text(size, source.data)
    elif source.type == "content" and isinstance(source.content, msgspec.Raw):
        _text(size, bytes(source.content).decode(errors="replace"))  # the blocks' JSON: text and some framing
    elif source.type == "base64" and isinstance(source.data, str) and (pages := _pdf_pages(source.data)):
        size.pdf_pages += pages
    else:
        size.unknown_pdfs += 1


def _pdf_pages(data: str) -> int:
    """Pages of a base64 PDF (its /Type /Page objects); 0 when it cannot be read."""
    try:
        pdf = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return 0
    return len(_PDF_PAGE.findall(pdf))


@functools.cache  # the encoding is immutable and costs ~60 ms to build: build it once per process
def _encoding():  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():  # bpe-openai 0.1.4 uses a deprecated importlib.resources call
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai  # type: ignore[import-untyped]

        return bpe_openai.get_encoding("o200k_base")
