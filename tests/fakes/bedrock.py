"""Bedrock wire bytes for tests: an AWS event-stream encoder, Converse bodies, ConverseStream event sequences,
error replies, and an independent SigV4 check (a test oracle written from the AWS docs, not from botocore).

Shapes follow botocore's bedrock-runtime 2023-09-30 service model. Every builder returns a fresh object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gateway.testing import Recorded, Reply, ToolUse

BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
EVENT_STREAM = "application/vnd.amazon.eventstream"
REQUEST_ID = "2f6a8b9c-1d2e-4f5a-9b8c-7d6e5f4a3b2c"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
SIGNATURE = "c2lnbmF0dXJlLWZha2U="  # reasoning signature
# ConverseStream payloads carry a padding field "p" (it hides the size of the content); clients must skip it.
PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"


def converse_path(model: str = BEDROCK_MODEL, *, stream: bool = False) -> str:
    """The request path as FakeUpstream records it (aiohttp's decoded `request.path`)."""
    return f"/model/{model}/{'converse-stream' if stream else 'converse'}"


# --- event-stream encoding -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Typed:
    """A header value with an explicit wire type: 2 byte, 3 short, 4 integer, 5 long, 8 timestamp."""

    kind: int
    value: int


HeaderValue = bool | int | bytes | str | uuid.UUID | Typed
_INT_FORMATS = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}


def _header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode()
    head = struct.pack(">B", len(raw_name)) + raw_name
    if isinstance(value, bool):
        return head + struct.pack(">B", 0 if value else 1)
    if isinstance(value, Typed):
        return head + struct.pack(">B", value.kind) + struct.pack(_INT_FORMATS[value.kind], value.value)
    if isinstance(value, int):
        return head + struct.pack(">Bq", 5, value)
    if isinstance(value, uuid.UUID):
        return head + struct.pack(">B", 9) + value.bytes
    data, kind = (value, 6) if isinstance(value, bytes) else (value.encode(), 7)
    return head + struct.pack(">BH", kind, len(data)) + data


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One event-stream message: prelude (lengths + CRC), headers, payload, message CRC."""
    raw_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps({**payload, "p": PADDING}).encode())


def exception_event(exception_type: str, message: str) -> bytes:
    """A stream exception, e.g. exception_event("throttlingException", "Too many requests")."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps({"message": message}).encode())


def split_bytes(frames: Sequence[bytes], size: int) -> list[bytes]:
    """The frames' bytes re-cut into pieces of `size`, so messages straddle socket writes."""
    data = b"".join(frames)
    return [data[i : i + size] for i in range(0, len(data), size)]


# --- Converse bodies --------------------------------------------------------------------------------------


def converse_usage(
    input_tokens: int = 25, output_tokens: int = 40, *, cache_read: int = 0, cache_write: int = 0
) -> dict[str, int]:
    return {
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens + cache_read + cache_write,
        "cacheReadInputTokens": cache_read,
        "cacheWriteInputTokens": cache_write,
    }


def converse_response(
    text: str | None = "Hello from Bedrock",
    *,
    tool_uses: Sequence[ToolUse] = (),
    reasoning: str | None = None,
    stop_reason: str | None = None,
    usage: Mapping[str, object] | None = None,
    stop_sequence: str | None = None,
) -> dict[str, Any]:
    """A Converse response body: reasoning, then text, then tool uses."""
    content: list[dict[str, Any]] = []
    if reasoning is not None:
        content.append({"reasoningContent": {"reasoningText": {"text": reasoning, "signature": SIGNATURE}}})
    if text is not None:
        content.append({"text": text})
    for tool in tool_uses:
        content.append({"toolUse": {"toolUseId": tool.id, "name": tool.name, "input": dict(tool.input)}})
    body: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason or ("tool_use" if tool_uses else "end_turn"),
        "usage": dict(usage) if usage is not None else converse_usage(),
        "metrics": {"latencyMs": 321},
    }
    if stop_sequence is not None:
        body["additionalModelResponseFields"] = {"stop_sequence": stop_sequence}
    return body


def _fragments(text: str, parts: int = 3) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def converse_stream(
    text_chunks: Sequence[str] = ("Hel", "lo"),
    *,
    tool_uses: Sequence[ToolUse] = (),
    reasoning: Sequence[str] = (),
    stop_reason: str | None = None,
    usage: Mapping[str, object] | None = None,
    stop_sequence: str | None = None,
) -> list[bytes]:
    """The ConverseStream event sequence as event-stream messages: reasoning, text, then tool blocks."""
    frames = [event("messageStart", {"role": "assistant"})]
    index = 0
    if reasoning:
        for piece in reasoning:
            frames.append(_delta(index, {"reasoningContent": {"text": piece}}))
        frames += [_delta(index, {"reasoningContent": {"signature": SIGNATURE}}), _stop(index)]
        index += 1
    if text_chunks:
        frames += [_delta(index, {"text": piece}) for piece in text_chunks] + [_stop(index)]
        index += 1
    for tool in tool_uses:
        start = {"toolUse": {"toolUseId": tool.id, "name": tool.name}}
        frames.append(event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        frames += [_delta(index, {"toolUse": {"input": p}}) for p in _fragments(json.dumps(dict(tool.input)))]
        frames.append(_stop(index))
        index += 1
    stop: dict[str, Any] = {"stopReason": stop_reason or ("tool_use" if tool_uses else "end_turn")}
    if stop_sequence is not None:
        stop["additionalModelResponseFields"] = {"stop_sequence": stop_sequence}
    frames.append(event("messageStop", stop))
    metadata = {"usage": dict(usage) if usage is not None else converse_usage(), "metrics": {"latencyMs": 321}}
    frames.append(event("metadata", metadata))
    return frames


def _delta(index: int, delta: Mapping[str, Any]) -> bytes:
    return event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta})


def _stop(index: int) -> bytes:
    return event("contentBlockStop", {"contentBlockIndex": index})


# --- replies ------------------------------------------------------------------------------------------------


def stream_reply(frames: Sequence[bytes], **kwargs: Any) -> Reply:
    """ConverseStream frames served as a chunked event stream, one write each."""
    headers = {"Content-Type": EVENT_STREAM, "x-amzn-RequestId": REQUEST_ID}
    return Reply.sse(frames, headers=headers, **kwargs)


def json_reply(body: object) -> Reply:
    return Reply.json(body, headers={"x-amzn-RequestId": REQUEST_ID})


def error_reply(status: int, error_type: str, message: str) -> Reply:
    """A Bedrock error answer: `{"message"}` and the type in x-amzn-ErrorType (Coral adds a namespace URL)."""
    headers = {
        "x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": REQUEST_ID,
    }
    return Reply.json({"message": message}, status, headers)


# --- SigV4 oracle -------------------------------------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_authorization(
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    region: str = REGION,
) -> str:
    """The Authorization AWS computes for a POST as it arrived (path as sent, no query string).

    From the AWS docs: the canonical URI is the path URI-encoded once more (bedrock is not S3), the signed
    headers are those the Authorization header names, the payload hash is SHA-256 of the body.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    signed = lowered["authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0]
    amz_date = lowered["x-amz-date"]
    canonical = "\n".join(
        [
            "POST",
            quote(path, safe="/~"),
            "",
            *(f"{name}:{' '.join(lowered[name].split())}" for name in signed.split(";")),
            "",
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{amz_date[:8]}/{region}/bedrock/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(f"AWS4{secret_key}".encode(), amz_date[:8])
    for part in (region, "bedrock", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"


def signature_verifies(recorded: Recorded, **credentials: str) -> bool:
    """Whether a request the fake received carries a valid SigV4 signature for what was sent."""
    expected = expected_authorization(recorded.path, recorded.headers, recorded.body, **credentials)
    return bool(recorded.headers.get("Authorization") == expected)
