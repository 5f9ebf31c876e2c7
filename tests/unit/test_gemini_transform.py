"""Golden tests for the Gemini translators (plugins/provider_gemini).

Each file under tests/data/gemini/<kind>/ is {"input", "expected"}:
- requests/: a canonical (Anthropic) request in, the GenerateContentRequest out; an expected {"error", "param"}
  means the translation must raise that error naming that field;
- responses/: a GenerateContentResponse in, the canonical Message out;
- streams/: streamGenerateContent chunks in, the canonical events out (and an `error` the stream must raise).
Generated ids (`toolu_…`, `msg_…`) are replaced by numbered placeholders before comparing.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pydantic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent

from gateway import UpstreamError, errors
from gateway.schemas import anthropic as a
from gateway_plugins.provider_gemini import wire as g
from gateway_plugins.provider_gemini.response import response_to_message
from gateway_plugins.provider_gemini.stream import GeminiStreamTranslator
from gateway_plugins.provider_gemini.transform import count_tokens_request, messages_to_gemini

DATA = Path(__file__).parent.parent / "data" / "gemini"
MODEL = "gemini/gemini-x"
GENERATED_ID = re.compile(r"^(toolu|msg)_[0-9a-f]{24}$")
EVENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)


def _cases(kind: str) -> list[Path]:
    paths = sorted((DATA / kind).glob("*.json"))
    assert paths, f"no golden cases in {kind}"
    return paths


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    return case


def normalized(value: Any, ids: dict[str, str] | None = None) -> Any:
    """Plain JSON with generated ids numbered in order of appearance (the same id keeps its number)."""
    ids = {} if ids is None else ids
    if isinstance(value, dict):
        return {k: normalized(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v, ids) for v in value]
    if isinstance(value, str) and GENERATED_ID.match(value):
        prefix = value.split("_", 1)[0]
        return ids.setdefault(value, f"{prefix}_{sum(k.startswith(prefix) for k in ids)}")
    return value


def to_json(value: object) -> Any:
    return json.loads(msgspec.json.encode(value))


def accumulate(events: list[a.StreamEvent]) -> Message:
    """The Message the anthropic SDK's own stream accumulator builds from the events."""
    snapshot: Message | None = None
    json_bufs: dict[int, bytes] = {}
    for event in to_json(events):
        parsed = EVENT_ADAPTER.validate_python(event)
        snapshot = accumulate_event(event=parsed, current_snapshot=snapshot, json_bufs=json_bufs)  # type: ignore[arg-type]
    assert snapshot is not None
    return snapshot


def translate_stream(chunks: list[dict[str, Any]], *, whole: bool = True) -> tuple[list[Any], UpstreamError | None]:
    """Feed every chunk, then finish; stop at the first error, as the provider does. `whole`: the chunks
    must end the turn (a stream without a finishReason is cut short; a complete body need not have one)."""
    translator = GeminiStreamTranslator(model=MODEL)
    events: list[a.StreamEvent] = []
    try:
        for chunk in chunks:
            events += translator.feed(g.RESPONSE_DECODER.decode(json.dumps(chunk)))
    except UpstreamError as error:
        return events, error
    assert translator.complete or not whole
    events += translator.finish()
    return events, None


# --- goldens ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", _cases("requests"), ids=lambda p: p.stem)
def test_request_golden(path: Path) -> None:
    case = _load(path)
    req = a.REQUEST_DECODER.decode(json.dumps(case["input"]))
    expected = case["expected"]
    model = "gemini-2.0-flash"  # a model before 2.5: its schemas go in the OpenAPI subset these goldens check
    if "error" in expected:
        with pytest.raises(getattr(errors, expected["error"])) as info:
            messages_to_gemini(req, model)
        assert info.value.param == expected["param"]
        return
    assert to_json(messages_to_gemini(req, model)) == expected


@pytest.mark.parametrize("path", _cases("responses"), ids=lambda p: p.stem)
def test_response_golden(path: Path) -> None:
    case = _load(path)
    resp = g.RESPONSE_DECODER.decode(json.dumps(case["input"]))
    message = response_to_message(resp, model=MODEL)
    assert normalized(to_json(message)) == case["expected"]
    Message.model_validate(to_json(message))  # what the anthropic SDK accepts


@pytest.mark.parametrize("path", _cases("streams"), ids=lambda p: p.stem)
def test_stream_golden(path: Path) -> None:
    case = _load(path)
    events, error = translate_stream(case["input"])
    assert normalized(to_json(events)) == case["expected"]
    if error is not None or "error" in case:
        assert error is not None and "error" in case
        assert {"status": error.status, "kind": error.kind, "message": error.message} == case["error"]
        return
    assert accumulate(events).stop_reason is not None  # the SDK accepts the sequence


# --- properties the goldens cannot show -----------------------------------------------------------------------


@pytest.mark.parametrize("path", _cases("responses"), ids=lambda p: p.stem)
def test_stream_and_complete_agree(path: Path) -> None:
    """The same response, streamed as one chunk, accumulates to the Message complete() returns."""
    body = _load(path)["input"]
    message = normalized(to_json(response_to_message(g.RESPONSE_DECODER.decode(json.dumps(body)), model=MODEL)))
    events, error = translate_stream([body], whole=False)
    assert error is None
    streamed = normalized(accumulate(events).model_dump(mode="json", exclude_none=True))
    assert streamed["content"] == [{k: v for k, v in b.items() if v is not None} for b in message["content"]]
    assert (streamed["stop_reason"], streamed["usage"]) == (message["stop_reason"], message["usage"])


def test_signatures_survive_a_round_trip() -> None:
    """A Gemini answer sent back as history gives Gemini its parts and signatures as it sent them."""
    parts = [
        {"text": "Plan", "thought": True, "thoughtSignature": "c2lnLTE="},
        {"text": "Calling."},
        {"functionCall": {"name": "f", "args": {"x": 1}}, "thoughtSignature": "c2lnLTI="},
        {"functionCall": {"name": "f", "args": {"x": 2}}},
    ]
    resp = g.RESPONSE_DECODER.decode(json.dumps({"candidates": [{"content": {"role": "model", "parts": parts}}]}))
    message = response_to_message(resp, model=MODEL)
    history = a.MessagesRequest(
        model=MODEL,
        max_tokens=10,
        messages=[a.MessageParam(role="user", content="go"), a.MessageParam(role="assistant", content=message.content)],
    )
    assert to_json(messages_to_gemini(history).contents[1].parts) == parts


def test_count_tokens_wraps_the_request_without_generation_config() -> None:
    req = a.REQUEST_DECODER.decode(
        json.dumps({"model": MODEL, "max_tokens": 5, "system": "S", "messages": [{"role": "user", "content": "hi"}]})
    )
    assert to_json(count_tokens_request(req, model="gemini-x")) == {
        "generateContentRequest": {
            "model": "models/gemini-x",
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "systemInstruction": {"parts": [{"text": "S"}]},
        }
    }


def test_translation_does_not_mutate_the_request() -> None:
    case = _load(DATA / "requests" / "thinking_round_trip_signatures.json")
    req = a.REQUEST_DECODER.decode(json.dumps(case["input"]))
    before = copy.deepcopy(req)
    first = to_json(messages_to_gemini(req))
    assert req == before
    assert to_json(messages_to_gemini(req)) == first


def test_error_in_a_complete_response_raises() -> None:
    body = {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}
    with pytest.raises(UpstreamError) as info:
        response_to_message(g.RESPONSE_DECODER.decode(json.dumps(body)), model=MODEL)
    assert (info.value.status, info.value.retryable, info.value.message) == (500, True, "Internal error encountered.")


def test_stream_finish_is_idempotent_and_works_without_chunks() -> None:
    translator = GeminiStreamTranslator(model=MODEL)
    assert not translator.complete
    events = translator.finish()
    assert [type(e).__name__ for e in events] == ["MessageStart", "MessageDelta", "MessageStop"]
    assert translator.finish() == []
