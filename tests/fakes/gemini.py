"""Builders for Gemini API wire bytes (generateContent, streamGenerateContent?alt=sse, countTokens, errors).

Serve them from a FakeUpstream at the paths below (it matches the path and ignores `?alt=sse`)::

    fake.script(generate_path(), Reply.json(gemini_response("Hi")))
    fake.script(stream_path(), Reply.sse(gemini_sse([gemini_chunk([text_part("Hi")], finish="STOP")])))
    fake.script(generate_path(), gemini_error_reply(429, "RESOURCE_EXHAUSTED", "Quota", retry_delay="7s"))

Every builder returns a fresh object, so tests may mutate what they get back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.testing import Reply, dumps

GEMINI_MODEL = "gemini-x"
GEMINI_KEY = "goog-key"
RESPONSE_ID = "resp-fake01"
MODEL_VERSION = "gemini-x-001"
FAKE_THOUGHT_SIGNATURE = "c2lnLWZha2U="  # base64, as Google sends it


def generate_path(model: str = GEMINI_MODEL, api_version: str = "v1beta") -> str:
    return f"/{api_version}/models/{model}:generateContent"


def stream_path(model: str = GEMINI_MODEL, api_version: str = "v1beta") -> str:
    return f"/{api_version}/models/{model}:streamGenerateContent"


def count_path(model: str = GEMINI_MODEL, api_version: str = "v1beta") -> str:
    return f"/{api_version}/models/{model}:countTokens"


# --- parts --------------------------------------------------------------------------------------------------


def text_part(text: str, *, signature: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"text": text}
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def thought_part(text: str, *, signature: str | None = None) -> dict[str, Any]:
    return {**text_part(text, signature=signature), "thought": True}


def call_part(name: str, args: Mapping[str, object] | None = None, *, signature: str | None = None) -> dict[str, Any]:
    """A functionCall part (Gemini gives calls no id); `args=None` leaves them out, as for no parameters."""
    call: dict[str, Any] = {"name": name}
    if args is not None:
        call["args"] = dict(args)
    part: dict[str, Any] = {"functionCall": call}
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


# --- responses ----------------------------------------------------------------------------------------------


def gemini_usage(prompt: int = 25, candidates: int = 40, *, cached: int = 0, thoughts: int = 0) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if cached:
        usage["cachedContentTokenCount"] = cached
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def gemini_response(
    text: str | None = "Hi",
    *,
    parts: Sequence[Mapping[str, Any]] = (),
    finish: str | None = "STOP",
    usage: Mapping[str, Any] | None = None,
    response_id: str = RESPONSE_ID,
) -> dict[str, Any]:
    """A complete generateContent body: `text` (unless None) as the first part, then `parts`."""
    all_parts = ([text_part(text)] if text is not None else []) + [dict(p) for p in parts]
    return gemini_chunk(all_parts, finish=finish, usage=usage or gemini_usage(), response_id=response_id)


def gemini_chunk(
    parts: Sequence[Mapping[str, Any]] | None,
    *,
    finish: str | None = None,
    usage: Mapping[str, Any] | None = None,
    response_id: str = RESPONSE_ID,
) -> dict[str, Any]:
    """One GenerateContentResponse; `parts=None` and no finish gives a chunk without candidates."""
    body: dict[str, Any] = {}
    if parts is not None or finish is not None:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [dict(p) for p in parts or ()]}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        body["candidates"] = [candidate]
    if usage is not None:
        body["usageMetadata"] = dict(usage)
    body["modelVersion"] = MODEL_VERSION
    body["responseId"] = response_id
    return body


def gemini_sse(chunks: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """SSE frames as Google sends them: `data: <json>` and CRLF line ends, no event names, no [DONE]."""
    return [f"data: {dumps(chunk)}\r\n\r\n".encode() for chunk in chunks]


def text_stream(
    pieces: Sequence[str] = ("Hel", "lo"), *, finish: str = "STOP", usage: Mapping[str, Any] | None = None
) -> list[bytes]:
    """A text answer streamed in pieces; usage grows chunk by chunk and finishReason comes with the last."""
    final = dict(usage or gemini_usage())
    chunks = [
        gemini_chunk([text_part(piece)], usage={**final, "candidatesTokenCount": i + 1})
        for i, piece in enumerate(pieces[:-1])
    ]
    chunks.append(gemini_chunk([text_part(pieces[-1])], finish=finish, usage=final))
    return gemini_sse(chunks)


def count_tokens_response(total: int) -> dict[str, Any]:
    return {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}


# --- errors -------------------------------------------------------------------------------------------------


def gemini_error(
    code: int, status: str, message: str, *, retry_delay: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """Google's error body, with a RetryInfo and/or ErrorInfo detail when asked."""
    details: list[dict[str, Any]] = []
    if reason is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
        )
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def gemini_error_reply(
    code: int,
    status: str,
    message: str,
    *,
    retry_delay: str | None = None,
    reason: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    return Reply.json(gemini_error(code, status, message, retry_delay=retry_delay, reason=reason), code, headers)
