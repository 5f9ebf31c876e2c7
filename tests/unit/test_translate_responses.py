"""Golden tests for the non-streaming response translators (api-spec section 6).

Each file under tests/data/translate/<direction>/ is {"input", "expected", "options"?}; see
test_translate_requests. The expected bodies are also validated with the official SDKs' response models, so a
golden cannot drift into a shape that the anthropic or openai client would reject.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic.types
import msgspec
import openai.types.chat
import pytest

from gateway import errors
from gateway.schemas import anthropic as a
from gateway.schemas import openai as o
from gateway.translate.response import message_to_chat_completion
from gateway_plugins.provider_openai.chat_response import chat_completion_to_message

DATA = Path(__file__).parent.parent / "data" / "translate"
TO_MESSAGE = sorted((DATA / "completion_to_message").glob("*.json"))
TO_COMPLETION = sorted((DATA / "message_to_completion").glob("*.json"))


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


def test_golden_cases_exist() -> None:
    assert TO_MESSAGE and TO_COMPLETION


@pytest.mark.parametrize("path", TO_MESSAGE, ids=lambda p: p.stem)
def test_chat_completion_to_message_golden(path: Path) -> None:
    case = _load(path)
    resp = o.COMPLETION_DECODER.decode(json.dumps(case["input"]))
    options = {"model": "claude-client", **case.get("options", {})}
    _check(lambda: chat_completion_to_message(resp, **options), case["expected"])


@pytest.mark.parametrize("path", TO_COMPLETION, ids=lambda p: p.stem)
def test_message_to_chat_completion_golden(path: Path) -> None:
    case = _load(path)
    msg = a.MESSAGE_DECODER.decode(json.dumps(case["input"]))
    options = {"model": "gpt-client", "created": 1730000000, **case.get("options", {})}
    _check(lambda: message_to_chat_completion(msg, **options), case["expected"])


@pytest.mark.parametrize("path", TO_MESSAGE, ids=lambda p: p.stem)
def test_expected_messages_satisfy_the_anthropic_sdk(path: Path) -> None:
    expected = _load(path)["expected"]
    if "error" not in expected:
        parsed = anthropic.types.Message.model_validate(expected, strict=True)
        assert isinstance(parsed.usage.input_tokens, int)


@pytest.mark.parametrize("path", TO_COMPLETION, ids=lambda p: p.stem)
def test_expected_completions_satisfy_the_openai_sdk(path: Path) -> None:
    expected = _load(path)["expected"]
    parsed = openai.types.chat.ChatCompletion.model_validate(expected, strict=True)
    assert parsed.object == "chat.completion"


def test_message_ids_are_kept_or_prefixed() -> None:
    msg = a.Message(id="msg_01A", model="m", content=[], stop_reason="end_turn")
    assert message_to_chat_completion(msg, model="x", created=1).id == "chatcmpl-msg_01A"


def test_missing_tool_call_id_gets_a_generated_one() -> None:
    call = o.ToolCall(id="", function=o.FunctionCall(name="f", arguments='{"a":1}'))
    choice = o.Choice(message=o.ResponseMessage(tool_calls=[call]), finish_reason="tool_calls")
    resp = o.ChatCompletion(id="chatcmpl-1", created=1, model="up", choices=[choice])
    block = chat_completion_to_message(resp, model="m").content[0]
    assert block.type == "tool_use"
    assert isinstance(block.id, str) and block.id.startswith("toolu_")
    assert isinstance(block.input, msgspec.Raw) and json.loads(bytes(block.input)) == {"a": 1}
