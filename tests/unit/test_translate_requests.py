"""Golden tests for the request translators (api-spec section 6).

Each file under tests/data/translate/<direction>/ is {"input", "expected", "options"?}: the input is decoded
with the dialect's request decoder, translated, encoded, and compared as plain JSON. An expected
{"error", "param"} means the translation must raise that error naming that field.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway import errors
from gateway.schemas import anthropic as a
from gateway.schemas import openai as o
from gateway.translate.request_to_anthropic import chat_request_to_messages
from gateway_plugins.provider_openai.chat_request import messages_to_chat_request

DATA = Path(__file__).parent.parent / "data" / "translate"


def _cases(direction: str) -> list[Path]:
    paths = sorted((DATA / direction).glob("*.json"))
    assert paths, f"no golden cases in {direction}"
    return paths


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    return case


def _check(translate: Callable[[], msgspec.Struct], expected: dict[str, Any]) -> None:
    if "error" in expected:
        with pytest.raises(getattr(errors, expected["error"])) as info:
            translate()
        assert info.value.param == expected.get("param")
        return
    assert json.loads(msgspec.json.encode(translate())) == expected


@pytest.mark.parametrize("path", _cases("chat_to_messages"), ids=lambda p: p.stem)
def test_chat_request_to_messages_golden(path: Path) -> None:
    case = _load(path)
    req = o.REQUEST_DECODER.decode(json.dumps(case["input"]))
    options = {"default_max_tokens": 4096, **case.get("options", {})}
    _check(lambda: chat_request_to_messages(req, **options), case["expected"])


@pytest.mark.parametrize("path", _cases("messages_to_chat"), ids=lambda p: p.stem)
def test_messages_to_chat_request_golden(path: Path) -> None:
    case = _load(path)
    req = a.REQUEST_DECODER.decode(json.dumps(case["input"]))
    options = {"model": "upstream-model", **case.get("options", {})}
    _check(lambda: messages_to_chat_request(req, **options), case["expected"])


def test_translators_do_not_mutate_their_input() -> None:
    case = _load(DATA / "chat_to_messages" / "tool_messages_merge_with_next_user.json")
    req = o.REQUEST_DECODER.decode(json.dumps(case["input"]))
    before = copy.deepcopy(req)
    first = chat_request_to_messages(req, default_max_tokens=4096)
    assert req == before
    assert chat_request_to_messages(req, default_max_tokens=4096) == first
    canonical = copy.deepcopy(first)
    messages_to_chat_request(first, model="m", stream=True)
    assert first == canonical


def test_messages_to_chat_request_rejects_unknown_max_tokens_field() -> None:
    req = a.MessagesRequest(model="m", max_tokens=10, messages=[a.MessageParam(role="user", content="x")])
    with pytest.raises(ValueError, match="max_tokens_field"):
        messages_to_chat_request(req, model="m", max_tokens_field="max_output_tokens")


def test_tool_history_round_trips_through_both_translators() -> None:
    """O->A->O keeps the tool-call ids, arguments and result order that OpenAI validates."""
    case = _load(DATA / "chat_to_messages" / "tool_messages_merge_with_next_user.json")
    req = o.REQUEST_DECODER.decode(json.dumps(case["input"]))
    back = messages_to_chat_request(chat_request_to_messages(req, default_max_tokens=4096), model="m")
    roles = [m.role for m in back.messages]
    assert roles == ["user", "assistant", "tool", "tool", "user"]
    calls = back.messages[1].tool_calls
    assert isinstance(calls, list)
    assert [(c.id, c.function.arguments) for c in calls] == [("call_1", '{"city":"Paris"}'), ("call_2", "{}")]
    assert [m.tool_call_id for m in back.messages[2:4]] == ["call_1", "call_2"]
