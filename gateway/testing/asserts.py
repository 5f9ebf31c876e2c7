"""Checks of the gateway's answers in each client dialect (error shapes, stream grammar)."""

from __future__ import annotations

from typing import Any

from .client import Answer
from .wire import SseEvent


def assert_anthropic_error(answer: Answer, status: int, kind: str, *contains: str) -> str:
    """The Anthropic error shape, its request-id header matching the body; returns the message, which must contain
    each of `contains`."""
    assert answer.status == status, answer
    assert answer.headers["content-type"].startswith("application/json"), answer
    body = answer.json()
    assert body["type"] == "error", body
    assert body["error"]["type"] == kind, body
    assert answer.headers["request-id"].startswith("req_"), answer
    assert body["request_id"] == answer.headers["request-id"], answer
    message: str = body["error"]["message"]
    assert isinstance(message, str) and message, body
    for text in contains:
        assert text in message, (text, message)
    return message


def assert_openai_error(answer: Answer, status: int, kind: str, *contains: str, code: str | None = None) -> str:
    """The OpenAI error shape ({"error": {message, type, param, code}} only) and its x-request-id header; returns
    the message, which must contain each of `contains`."""
    assert answer.status == status, answer
    error = openai_error_of(answer)
    assert error["type"] == kind, error
    if code is not None:
        assert error["code"] == code, error
    assert answer.headers["x-request-id"].startswith("req_"), answer
    message: str = error["message"]
    for text in contains:
        assert text in message, (text, message)
    return message


def openai_error_of(answer: Answer) -> dict[str, Any]:
    """The OpenAI error object of an answer, checked for its full shape."""
    body = answer.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    return error


def check_stream_grammar(events: list[SseEvent]) -> list[dict[str, Any]]:
    """Assert the Anthropic stream grammar (event lines, order, contiguous indices, one open block); return the
    blocks."""
    for event in events:
        assert event.event is not None, f"frame without an event: line: {event.data}"
        assert event.json()["type"] == event.event
    names = [e.event for e in events if e.event != "ping"]
    assert names[0] == "message_start", names
    assert names[-2:] == ["message_delta", "message_stop"], names
    blocks: list[dict[str, Any]] = []
    open_index: int | None = None
    for event in events[1:-2]:
        data = event.json()
        if event.event == "ping":
            continue
        if event.event == "content_block_start":
            assert open_index is None, f"block {data['index']} started while {open_index} is open"
            assert data["index"] == len(blocks), "indices must be contiguous, in start order"
            open_index = data["index"]
            blocks.append(data["content_block"])
        elif event.event in ("content_block_delta", "content_block_stop"):
            assert data["index"] == open_index, data
            if event.event == "content_block_stop":
                open_index = None
        else:
            raise AssertionError(f"unexpected {event.event} inside the message")
    assert open_index is None, "a block was never stopped"
    return blocks
