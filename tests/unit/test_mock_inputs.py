"""The mock provider's tool inputs fill what the tool's schema requires, with plausible values."""

from __future__ import annotations

from typing import Any

from gateway_plugins.provider_mock.inputs import example_input

# Claude Code's Read and Bash tools (abridged from tests/data/claude_code), and a schema with every kind of field.
READ = {
    "type": "object",
    "properties": {"file_path": {"type": "string"}, "offset": {"type": "number"}, "limit": {"type": "number"}},
    "required": ["file_path"],
    "additionalProperties": False,
}
BASH = {
    "type": "object",
    "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
    "required": ["command"],
}
EVERYTHING: dict[str, Any] = {
    "type": "object",
    "required": ["unit", "count", "ratio", "flag", "tags", "where", "id", "maybe", "url"],
    "properties": {
        "unit": {"type": "string", "enum": ["c", "f"]},
        "count": {"type": "integer", "minimum": 3, "maximum": 9},
        "ratio": {"type": "number", "exclusiveMinimum": 0.5},
        "flag": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "where": {"type": "object", "properties": {"lat": {"type": "number"}}, "required": ["lat"]},
        "id": {"type": "string", "minLength": 12, "maxLength": 16},
        "maybe": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "url": {"type": "string", "format": "uri"},
        "optional": {"type": "string"},
    },
}


def test_a_path_comes_from_the_users_words() -> None:
    assert example_input(READ, "Read the file notes.txt and tell me its first line") == {"file_path": "notes.txt"}
    assert example_input(READ, "show me src/app/main.py") == {"file_path": "src/app/main.py"}
    assert example_input(READ, "hello") == {"file_path": "README.md"}
    assert example_input(BASH, "run it") == {"command": "echo hello"}


def test_every_required_field_is_filled_within_its_constraints() -> None:
    value = example_input(EVERYTHING, "hi")
    assert set(value) == set(EVERYTHING["required"])
    assert value["unit"] == "c"
    assert isinstance(value["count"], int) and 3 <= value["count"] <= 9
    assert isinstance(value["ratio"], float) and value["ratio"] > 0.5
    assert value["flag"] is False
    assert (
        isinstance(value["tags"], list) and len(value["tags"]) == 2 and all(isinstance(t, str) for t in value["tags"])
    )
    assert value["where"] == {"lat": 1.0}
    assert 12 <= len(value["id"]) <= 16
    assert value["maybe"] == 1
    assert value["url"].startswith("https://")


def test_odd_schemas_give_an_object() -> None:
    assert example_input(None, "x") == {}
    assert example_input({"type": "object"}, "x") == {}
    nested: dict[str, Any] = {"type": "object", "required": ["a"], "properties": {}}
    node = nested
    for _ in range(20):  # deeper than the mock follows
        child: dict[str, Any] = {"type": "object", "required": ["a"], "properties": {}}
        node["properties"]["a"] = child
        node = child
    assert isinstance(example_input(nested, "x"), dict)
