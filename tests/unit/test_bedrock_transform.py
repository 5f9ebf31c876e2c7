"""Golden tests for the Bedrock translators: canonical request -> Converse request, Converse response -> Message.

Each file under tests/data/bedrock/request/ is {"model", "input", "expected"}: the input is decoded as an
Anthropic Messages request, translated for that Bedrock model id, encoded and compared as plain JSON; an
expected {"error", "param", "message"} means the translation raises that error naming that field. Files under
tests/data/bedrock/response/ are {"input": Converse response, "expected": Message}.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway import errors
from gateway.schemas import anthropic as a
from gateway_plugins.provider_bedrock import wire as w
from gateway_plugins.provider_bedrock.blocks import document_name
from gateway_plugins.provider_bedrock.transform import converse_message, converse_request

DATA = Path(__file__).parent.parent / "data" / "bedrock"


def _cases(kind: str) -> list[Path]:
    paths = sorted((DATA / kind).glob("*.json"))
    assert paths, f"no golden cases in {kind}"
    return paths


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    return case


def _request(body: dict[str, Any]) -> a.MessagesRequest:
    return a.REQUEST_DECODER.decode(json.dumps(body))


@pytest.mark.parametrize("path", _cases("request"), ids=lambda p: p.stem)
def test_converse_request_golden(path: Path) -> None:
    case = _load(path)
    request, expected = _request(case["input"]), case["expected"]
    if "error" in expected:
        with pytest.raises(getattr(errors, expected["error"])) as info:
            converse_request(request, model=case["model"])
        assert (info.value.param, info.value.message) == (expected["param"], expected["message"])
        return
    assert json.loads(msgspec.json.encode(converse_request(request, model=case["model"]))) == expected


@pytest.mark.parametrize("path", _cases("response"), ids=lambda p: p.stem)
def test_converse_message_golden(path: Path) -> None:
    case = _load(path)
    response = w.RESPONSE_DECODER.decode(json.dumps(case["input"]))
    message = converse_message(response, model="bedrock/claude", message_id="msg_bdrk_test")
    assert json.loads(msgspec.json.encode(message)) == case["expected"]


def test_tool_input_bytes_are_relayed_untouched_both_ways() -> None:
    """Tool inputs stay raw JSON: key order, spacing and number spelling survive the round trip."""
    raw = b'{"b": 1.50, "a":[1,2]}'
    body = b'{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"n","input":'
    message = converse_message(
        w.RESPONSE_DECODER.decode(body + raw + b'}}]}},"stopReason":"tool_use"}'), model="m", message_id="i"
    )
    block = message.content[0]
    assert isinstance(block.input, msgspec.Raw) and bytes(block.input) == raw
    request = a.MessagesRequest(
        model="m",
        max_tokens=5,
        messages=[a.MessageParam(role="user", content="x"), a.MessageParam(role="assistant", content=[block])],
    )
    assert raw in msgspec.json.encode(converse_request(request, model="m"))


def test_translation_does_not_mutate_the_canonical_request() -> None:
    case = _load(DATA / "request" / "tool_round_trip.json")
    request = _request(case["input"])
    before = copy.deepcopy(request)
    first = converse_request(request, model=case["model"])
    assert request == before
    assert converse_request(request, model=case["model"]) == first


def test_consecutive_turns_are_merged_without_touching_the_request() -> None:
    request = _request({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "a"}] * 3})
    converse = converse_request(request, model="m")
    assert [len(m.content) for m in converse.messages] == [3]
    assert all(m.content == "a" for m in request.messages)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Q3 report: final.pdf", "Q3 report final pdf"),
        ("  spaced   out  ", "spaced out"),
        ("émoji 🎉 (v2) [draft]", "moji (v2) [draft]"),
        ("", "messages[0] content[2]"),
        ("!!!", "document"),
        ("x" * 300, "x" * 200),
    ],
)
def test_document_names_are_made_valid(title: str, expected: str) -> None:
    assert document_name(title, "messages[0].content[2]") == expected
