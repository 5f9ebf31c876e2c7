"""ConverseStream -> canonical events: goldens (tests/data/bedrock/stream/*.json are {"events": [[type, payload]],
"expected": [canonical events]}), the reader over raw event-stream bytes, and how a stream can fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway import Chunk, UpstreamError
from gateway.schemas import anthropic as a
from gateway.streaming import UsageTracker
from gateway.testing import ToolUse
from gateway_plugins.provider_bedrock.eventstream import EventMessage
from gateway_plugins.provider_bedrock.stream import ConverseStreamReader, ConverseStreamTranslator
from tests.fakes.bedrock import converse_stream, converse_usage, encode_message, event, exception_event

DATA = Path(__file__).parent.parent / "data" / "bedrock" / "stream"


def _message(event_type: str, payload: object) -> EventMessage:
    headers: dict[str, Any] = {":message-type": "event", ":event-type": event_type}
    return EventMessage(headers=headers, payload=json.dumps(payload).encode())


def _translator() -> ConverseStreamTranslator:
    return ConverseStreamTranslator(model="bedrock/claude", message_id="msg_bdrk_test")


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.stem)
def test_stream_golden(path: Path) -> None:
    case = json.loads(path.read_text())
    translator = _translator()
    events: list[a.StreamEvent] = []
    for event_type, payload in case["events"]:
        events += translator.feed(_message(event_type, payload))
    events += translator.finish()
    assert [json.loads(msgspec.json.encode(e)) for e in events] == case["expected"]


def _read_all(frames: list[bytes], size: int | None = None) -> list[a.StreamEvent]:
    reader = ConverseStreamReader(model="bedrock/claude", message_id="msg_1")
    data = b"".join(frames)
    pieces = [data] if size is None else [data[i : i + size] for i in range(0, len(data), size)]
    events: list[a.StreamEvent] = []
    for piece in pieces:
        chunk, error = reader.read(piece)
        assert error is None
        events += chunk.events if chunk else ()
    last = reader.end()
    return events + list(last.events if last else ())


def test_reader_gives_the_same_events_however_the_bytes_are_cut() -> None:
    frames = converse_stream(("Hel", "lo"), tool_uses=[ToolUse("tooluse_1", "get_weather", {"city": "Paris"})])
    whole = _read_all(frames)
    assert _read_all(frames, size=7) == whole
    assert isinstance(whole[0], a.MessageStart) and isinstance(whole[-1], a.MessageStop)


def test_reader_usage_ends_the_message_as_soon_as_metadata_arrives() -> None:
    frames = converse_stream(("Hi",), usage=converse_usage(9, 4, cache_read=3))
    reader = ConverseStreamReader(model="m", message_id="msg_1")
    chunk, error = reader.read(b"".join(frames))
    assert error is None and chunk is not None
    assert isinstance(chunk.events[-1], a.MessageStop)
    assert reader.end() is None  # nothing left for EOF
    tracker = UsageTracker()
    for item in chunk.events:
        tracker.feed(item)
    assert (tracker.usage.input_tokens, tracker.usage.output_tokens, tracker.usage.cache_read_input_tokens) == (9, 4, 3)
    assert tracker.stop_reason == "end_turn"


def test_reader_a_read_that_completes_no_message_gives_no_chunk() -> None:
    reader = ConverseStreamReader(model="m", message_id="msg_1")
    assert reader.read(event("messageStart", {"role": "assistant"})[:10]) == (None, None)


def test_exception_event_after_content_keeps_the_content_then_fails() -> None:
    frames = [*converse_stream(("Hi",))[:2], exception_event("throttlingException", "Too many tokens, please wait.")]
    reader = ConverseStreamReader(model="m", message_id="msg_1")
    chunk, error = reader.read(b"".join(frames))
    assert isinstance(chunk, Chunk)
    assert [type(e) for e in chunk.events] == [a.MessageStart, a.ContentBlockStart, a.ContentBlockDelta]
    assert isinstance(error, UpstreamError)
    assert (error.status, error.kind, error.retryable) == (429, "rate_limit_error", True)
    assert error.message == "ThrottlingException: Too many tokens, please wait."


@pytest.mark.parametrize(
    ("exception_type", "status", "retryable"),
    [
        ("validationException", 400, False),
        ("modelStreamErrorException", 424, False),
        ("internalServerException", 500, True),
        ("serviceUnavailableException", 503, True),
        ("somethingNewException", 500, True),
    ],
)
def test_stream_exceptions_keep_their_status(exception_type: str, status: int, retryable: bool) -> None:
    translator = _translator()
    message = EventMessage(
        headers={":message-type": "exception", ":exception-type": exception_type}, payload=b'{"message":"boom"}'
    )
    with pytest.raises(UpstreamError) as info:
        translator.feed(message)
    assert (info.value.status, info.value.retryable) == (status, retryable)
    assert info.value.message.endswith(": boom")


def test_error_message_type_fails_the_stream() -> None:
    message = EventMessage(
        headers={":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, payload=b""
    )
    with pytest.raises(UpstreamError, match="InternalFailure: oops"):
        _translator().feed(message)


def test_stream_ending_before_message_stop_is_an_error() -> None:
    reader = ConverseStreamReader(model="m", message_id="msg_1")
    reader.read(b"".join(converse_stream(("Hi",))[:3]))
    with pytest.raises(UpstreamError, match="before messageStop"):
        reader.end()


def test_stream_ending_inside_a_message_is_an_error() -> None:
    reader = ConverseStreamReader(model="m", message_id="msg_1")
    frames = converse_stream(("Hi",))
    reader.read(b"".join(frames)[:-3])
    with pytest.raises(UpstreamError, match="inside a message"):
        reader.end()


def test_message_stop_without_metadata_ends_at_eof_with_zero_usage() -> None:
    frames = converse_stream(("Hi",))[:-1]  # no metadata event
    events = _read_all(frames)
    delta = events[-2]
    assert isinstance(delta, a.MessageDelta)
    assert delta.usage.output_tokens == 0 and delta.delta.stop_reason == "end_turn"


def test_invalid_event_payload_is_an_error() -> None:
    bad = encode_message({":message-type": "event", ":event-type": "contentBlockDelta"}, b'{"delta": 5}')
    reader = ConverseStreamReader(model="m", message_id="msg_1")
    chunk, error = reader.read(event("messageStart", {"role": "assistant"}) + bad)
    assert chunk is not None and isinstance(chunk.events[0], a.MessageStart)
    assert isinstance(error, UpstreamError) and "invalid contentBlockDelta event" in error.message
