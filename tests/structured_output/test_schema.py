"""The structured-output schema layer as pure functions: which schemas compile, what a failed answer says, the
guards against schemas no validator can finish, the cache, and the OpenAI strict adapter."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest

from gateway_plugins.structured_output.schema import (
    CACHE_SIZE,
    MAX_DEPTH,
    MAX_MESSAGE,
    MAX_SCHEMA_BYTES,
    CompiledSchema,
    Invalid,
    SchemaError,
    compile_schema,
    parse_json,
)
from gateway_plugins.structured_output.strict import drop_added_nulls, openai_strict_ok, strict_for_openai

PERSON: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
        "pets": {"type": "array", "items": {"$ref": "#/$defs/pet"}},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
    "$defs": {"pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}}, "required": ["kind"]}},
}
PETS = '{"name": "a", "age": 1, "pets": [{"kind": "cat"}, {"kind": "cow"}]}'


def compiled(schema: object) -> CompiledSchema:
    result = compile_schema(schema)
    assert isinstance(result, CompiledSchema), result
    return result


def refused(schema: object) -> SchemaError:
    """The schema is refused, and quickly: every guard is bounded (a second is far above what any takes)."""
    start = time.perf_counter()
    result = compile_schema(schema)
    assert time.perf_counter() - start < 1.0
    assert isinstance(result, SchemaError), result
    return result


def nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def data_at_depth(depth: int) -> dict[str, Any]:
    """A schema whose `const` holds data so nested that its innermost value is `depth` keys from the root."""
    value: Any = 1
    for _ in range(depth - 1):
        value = {"k": value}
    return {"const": value}


# ---- answers


def test_a_valid_answer_passes() -> None:
    schema = compiled(PERSON)
    assert schema.validate_text('{"name": "Ada", "age": 36, "pets": [{"kind": "cat"}]}') is None
    assert schema.validate_text(b'{"name": "Ada", "age": 36}') is None


@pytest.mark.parametrize(
    ("text", "path", "schema_path", "words"),
    [
        ('{"age": 3}', "", "required", '"name" is a required property'),
        ('{"name": "a", "age": -1}', "age", "properties.age.minimum", "less than the minimum of 0"),
        ('{"name": "a", "age": 1, "tags": ["x", 2]}', "tags.1", "properties.tags.items.type", 'not of type "string"'),
        (PETS, "pets.1.kind", "$defs.pet.properties.kind.enum", "is not one of"),
        ('{"name": "a", "age": 1, "extra": true}', "", "additionalProperties", "'extra' was unexpected"),
        ('["name"]', "", "type", 'is not of type "object"'),
    ],
)
def test_an_invalid_answer_names_where_and_which_keyword(text: str, path: str, schema_path: str, words: str) -> None:
    invalid = compiled(PERSON).validate_text(text)
    assert isinstance(invalid, Invalid)
    assert (invalid.path, invalid.schema_path) == (path, schema_path)
    assert words in invalid.message
    assert invalid.describe() == f"at {path or '(root)'} (schema {schema_path}): {invalid.message}"


@pytest.mark.parametrize("text", ["Sure! Here is the JSON: {}", '{"name": "a"', "", "```json\n{}\n```"])
def test_text_that_is_not_json_is_invalid_at_the_root(text: str) -> None:
    invalid = compiled(PERSON).validate_text(text)
    assert isinstance(invalid, Invalid)
    assert (invalid.path, invalid.schema_path) == ("", "")
    assert invalid.message.startswith("the answer is not valid JSON")


def test_an_answer_nested_past_the_parser_limit_is_invalid_not_a_crash() -> None:
    start = time.perf_counter()
    invalid = compiled({}).validate_text("[" * 100_000 + "]" * 100_000)
    assert isinstance(invalid, Invalid) and "nests too deeply" in invalid.message
    assert time.perf_counter() - start < 1.0


def test_the_message_is_one_bounded_line_even_for_a_huge_value() -> None:
    text = msgspec.json.encode({"name": "line one\nline two " * 2000, "age": "old"}).decode()
    invalid = compiled({"type": "object", "properties": {"name": {"type": "integer"}}}).validate_text(text)
    assert isinstance(invalid, Invalid)
    assert "\n" not in invalid.message and len(invalid.message) <= MAX_MESSAGE


def test_numbers_beyond_64_bits_are_checked() -> None:
    schema = compiled({"type": "integer", "maximum": 10})
    assert schema.validate_text("1" + "0" * 30) is not None
    assert schema.validate_text("7") is None


@pytest.mark.parametrize("pattern", ["^(a+)+$", "^(a|a)*$", r"^(a*)*(?=b)\1c$"])
def test_a_catastrophic_pattern_finishes_fast(pattern: str) -> None:
    """Plain patterns run in linear time, and those that need backtracking (look-around, back-references) have
    a step limit: a client's pattern cannot stall the gateway on a long answer."""
    schema = compiled({"type": "string", "pattern": pattern})
    start = time.perf_counter()
    assert schema.validate("a" * 50_000 + "!") is not None
    assert time.perf_counter() - start < 1.0


def test_json_object_requests_are_checked_for_parseable_json_only() -> None:
    assert not isinstance(parse_json('{"any": ["thing"]}'), Invalid)
    assert isinstance(parse_json("{'single': 'quotes'}"), Invalid)


def test_boolean_schemas_compile() -> None:
    assert compiled(True).validate_text('{"a": 1}') is None
    assert compiled(False).validate_text("{}") is not None


# ---- schemas refused before any upstream call (the issue's "Bad input")


@pytest.mark.parametrize(
    ("schema", "path", "words"),
    [
        (None, "", "must be a JSON object, not null"),  # response_format json_schema without a schema
        (5, "", "not a number"),
        ("object", "", "not a string"),
        ([{"type": "object"}], "", "not an array"),
        ({"type": "strin"}, "type", '"strin" is not a JSON Schema type'),
        ({"properties": {"a": {"type": "strin"}}}, "properties.a.type", "not a JSON Schema type"),
        ({"properties": []}, "properties", 'not of type "object"'),
        ({"required": "a"}, "required", 'not of type "array"'),
        ({"properties": {"a": {"minimum": "x"}}}, "properties.a.minimum", 'not of type "number"'),
        ({"pattern": "("}, "pattern", "regex"),
        ({"$schema": "http://example.com/my-meta"}, "$schema", "Unknown meta-schema"),
    ],
)
def test_a_malformed_schema_is_refused_with_its_path(schema: object, path: str, words: str) -> None:
    error = refused(schema)
    assert error.path == path and words in error.message, error
    assert error.describe().startswith(f"invalid schema at {path or '(root)'}: ")


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"$ref": "#"}, "$ref"),
        ({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}, "$defs.a.$ref"),
        ({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"}, "$defs.a.allOf.0.$ref"),
        ({"anyOf": [{"not": {"$ref": "#"}}]}, "anyOf.0.not.$ref"),
        ({"properties": {"x": {"$ref": "#/properties/x"}}}, "properties.x.$ref"),
    ],
)
def test_a_ref_cycle_that_never_reaches_a_value_is_refused(schema: dict[str, Any], path: str) -> None:
    error = refused(schema)
    assert error.path == path and "$ref cycle" in error.message, error


def test_recursion_through_properties_is_a_tree_not_a_cycle() -> None:
    node = {"type": "object", "properties": {"value": {"type": "integer"}, "next": {"$ref": "#/$defs/node"}}}
    schema = compiled({"$defs": {"node": node}, "$ref": "#/$defs/node"})
    assert schema.validate_text('{"value": 1, "next": {"value": 2, "next": {}}}') is None
    invalid = schema.validate_text('{"value": 1, "next": {"value": 2, "next": {"value": "x"}}}')
    assert invalid is not None and invalid.path == "next.next.value"


@pytest.mark.parametrize(
    ("schema", "path", "words"),
    [
        ({"$ref": "#/$defs/missing"}, "$ref", "names no subschema"),
        ({"$ref": "#/required"}, "$ref", "names no subschema"),
        ({"$ref": "#nowhere"}, "$ref", "names no subschema"),
        ({"items": {"$ref": "http://127.0.0.1:9/schema.json"}}, "items.$ref", "only references within the schema"),
        ({"$ref": "other.json#/a"}, "$ref", "only references within the schema"),
        ({"$ref": 5}, "$ref", "only references within the schema"),
        ({"$dynamicRef": "#meta"}, "$dynamicRef", "not supported"),
        ({"$defs": {"a": {"$id": "http://x/a"}}}, "$defs.a.$id", "only supported at the root"),
    ],
)
def test_a_ref_outside_the_document_or_to_nothing_is_refused(schema: object, path: str, words: str) -> None:
    error = refused(schema)
    assert error.path == path and words in error.message, error


def test_local_refs_by_pointer_escape_and_anchor_resolve() -> None:
    defs = {"a/b": {"type": "integer"}, "c~d": {"$anchor": "cee", "type": "string"}}
    schema = compiled({"$defs": defs, "properties": {"x": {"$ref": "#/$defs/a~1b"}, "y": {"$ref": "#cee"}}})
    assert schema.validate_text('{"x": 1, "y": "s"}') is None
    assert compiled({"$defs": defs, "$ref": "#/$defs/c~0d"}).validate_text("1") is not None


def test_a_ref_inside_data_is_data() -> None:
    """`const`, `default` and `examples` hold values, which may look like anything, a $ref to a URL included."""
    schema = compiled({"const": {"$ref": "http://example.com"}, "examples": [{"$ref": "#/nowhere"}]})
    assert schema.validate_text('{"$ref": "http://example.com"}') is None


def test_ten_thousand_nested_levels_are_refused_at_the_depth_limit() -> None:
    error = refused(nested(10_000))
    assert "nested deeper than 64 levels" in error.message
    assert error.path.startswith("properties.a.properties.a.") and error.path.count(".") == MAX_DEPTH


def test_the_depth_limit_is_exact() -> None:
    assert compiled(data_at_depth(MAX_DEPTH)).validate_text("1") is not None
    assert "nested deeper" in refused(data_at_depth(MAX_DEPTH + 1)).message
    compiled(nested(31))  # 31 objects in objects: the innermost type is 63 keys deep
    refused(nested(32))


def test_a_schema_over_the_size_limit_is_refused() -> None:
    error = refused({"type": "string", "description": "x" * MAX_SCHEMA_BYTES})
    assert error.path == "" and f"at most {MAX_SCHEMA_BYTES}" in error.message


def test_a_value_that_is_not_json_is_refused() -> None:
    assert "not JSON" in refused({"enum": [object()]}).message


# ---- the cache


def test_the_same_schema_compiles_once_whatever_its_key_order() -> None:
    reordered = {key: PERSON[key] for key in reversed(PERSON)}
    assert compile_schema(PERSON) is compile_schema(reordered)
    assert compile_schema({"type": "strin"}) is compile_schema({"type": "strin"})  # errors are remembered too
    assert compiled(PERSON).text == msgspec.json.encode(PERSON, order="sorted").decode()


def test_the_cache_is_bounded() -> None:
    first = compiled({"const": -1})
    for i in range(CACHE_SIZE):
        compiled({"const": i})
    assert compile_schema({"const": -1}) is not first  # evicted, compiled anew


# ---- OpenAI strict mode

PLACE = {"city": {"type": "string"}, "zip": {"type": "string"}}
PROFILE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "nickname": {"type": "string"},
        "level": {"type": "string", "enum": ["low", "high"]},
        "note": {"type": ["string", "null"]},
        "home": {"$ref": "#/$defs/place"},
        "places": {"type": "array", "items": {"$ref": "#/$defs/place"}},
    },
    "required": ["name"],
    "$defs": {"place": {"type": "object", "properties": PLACE, "required": ["city"]}},
}


def objects_in(node: object) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [o for item in node for o in objects_in(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if node.get("type") == "object" else []
    return own + [o for value in node.values() for o in objects_in(value)]


def test_strict_closes_every_object_and_requires_every_property() -> None:
    before = msgspec.json.encode(PROFILE)
    strict: dict[str, Any] = strict_for_openai(PROFILE)
    assert msgspec.json.encode(PROFILE) == before  # the client's schema is not touched
    assert len(objects_in(strict)) == 2
    for obj in objects_in(strict):
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    props = strict["properties"]
    assert props["name"] == {"type": "string"}  # required already: unchanged
    assert props["nickname"] == {"type": ["string", "null"]}
    assert props["level"] == {"type": ["string", "null"], "enum": ["low", "high", None]}
    assert props["note"] == {"type": ["string", "null"]}  # nullable already
    assert props["home"] == {"anyOf": [{"$ref": "#/$defs/place"}, {"type": "null"}]}
    assert strict["$defs"]["place"]["properties"]["zip"] == {"type": ["string", "null"]}
    assert strict_for_openai(strict) == strict
    assert openai_strict_ok(PROFILE) and openai_strict_ok(strict)


def test_an_answer_to_the_strict_schema_validates_against_the_clients_once_nulls_are_dropped() -> None:
    answer = {"name": "Ada", "nickname": None, "level": None, "note": None, "home": None,
              "places": [{"city": "Paris", "zip": None}]}  # fmt: skip
    assert compiled(strict_for_openai(PROFILE)).validate(answer) is None
    assert compiled(PROFILE).validate(answer) is not None
    restored = drop_added_nulls(PROFILE, answer)
    assert restored == {"name": "Ada", "note": None, "places": [{"city": "Paris"}]}
    assert compiled(PROFILE).validate(restored) is None


@pytest.mark.parametrize(
    "schema",
    [
        {"anyOf": [{"type": "object"}, {"type": "null"}]},
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "properties": {"a": {"allOf": [{"type": "string"}]}}},
        {"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}},
        {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
        {"type": "object", "properties": {"pair": {"type": "array", "prefixItems": [{"type": "string"}]}}},
        {"type": "object", "additionalProperties": {"type": "integer"}},  # a map: closing it would leave only {}
        {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"not": {"type": "null"}}}}}},
        {"type": "object", "properties": {"anything": {}}},
        {"type": "object", "properties": {"anything": True}},
        {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(5001)}},
        {"type": "object", "properties": {"e": {"enum": list(range(1001))}}},
        nested(11),
    ],
)
def test_schemas_openai_strict_mode_refuses_are_not_ok(schema: dict[str, Any]) -> None:
    assert not openai_strict_ok(schema)


def test_ten_levels_of_objects_and_open_objects_are_ok() -> None:
    assert openai_strict_ok(nested(10))
    assert openai_strict_ok({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": True})
