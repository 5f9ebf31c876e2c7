"""JSON Schema -> Gemini Schema edge cases the request goldens do not cover."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_plugins.provider_gemini.schema import to_gemini_schema


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (True, {}),
        ({"type": "object", "properties": {"x": True}}, {"type": "object", "properties": {"x": {}}}),
        ({"type": ["null", "integer"], "format": "int64"}, {"type": "integer", "format": "int64", "nullable": True}),
        ({"type": "string", "format": "email"}, {"type": "string"}),
        ({"type": "number", "format": "int32"}, {"type": "number"}),
        ({"enum": ["a", None]}, {"type": "string", "enum": ["a"]}),
        ({"type": "string", "enum": ["a", 1]}, {"type": "string", "enum": ["a", "1"]}),
        ({"type": "boolean", "nullable": True, "description": 3}, {"type": "boolean", "nullable": True}),
        ({"anyOf": [{"type": "null"}]}, {"nullable": True}),
        ({"oneOf": [{"type": "string"}]}, {"type": "string"}),
        ({"$ref": "#/$defs/Missing"}, {"type": "object"}),
        ({"type": "array", "items": [{"type": "string"}]}, {"type": "array"}),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b", 3]},
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        ),
        ({"minimum": True, "maximum": 2.5, "type": "number"}, {"type": "number", "maximum": 2.5}),
    ],
)
def test_edge_cases(schema: Any, expected: dict[str, Any]) -> None:
    assert to_gemini_schema(schema) == expected


def test_all_of_joins_properties_and_required() -> None:
    schema = {
        "$defs": {"Base": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}},
        "allOf": [{"$ref": "#/$defs/Base"}, {"properties": {"name": {"type": "string"}}, "required": ["name"]}],
    }
    assert to_gemini_schema(schema) == {
        "type": "object",
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
        "required": ["id", "name"],
    }


def test_input_is_not_mutated() -> None:
    schema = {"$defs": {"A": {"type": "string"}}, "type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}
    before = repr(schema)
    to_gemini_schema(schema)
    assert repr(schema) == before
