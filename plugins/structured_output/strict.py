"""OpenAI's strict mode (`response_format.json_schema.strict`, strict tools) takes a subset of JSON Schema: every
object closed (`additionalProperties: false`) and every property in `required`. `strict_for_openai` adapts a
client's schema to that rule (an optional property stays listed but may be null); the answer is still validated
against the client's own schema, after `drop_added_nulls` removes the nulls the adaptation let in.
`openai_strict_ok` says whether the adapted schema is one OpenAI accepts at all; when it is not, the plugin uses
another mode (`tool`) rather than send a schema the upstream would refuse.

Call these only on a schema that `compile_schema` accepted: they recurse, which its depth limit makes safe.
"""

from __future__ import annotations

from typing import Final

from .schema import SCHEMA_LIST, SCHEMA_MAP, SINGLE_SCHEMA

# Keywords OpenAI's strict mode refuses (its documented subset has anyOf, $defs/$ref, enum/const, the string,
# number and array bounds); a schema that needs one of them cannot be sent strict.
UNSUPPORTED: Final = frozenset(
    {"allOf", "oneOf", "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "patternProperties"}
    | {"unevaluatedProperties", "unevaluatedItems", "propertyNames", "contains", "minContains", "maxContains"}
    | {"uniqueItems", "minProperties", "maxProperties", "$anchor", "$dynamicRef", "$dynamicAnchor", "prefixItems"}
)
_CONSTRAINING: Final = frozenset({"type", "$ref", "anyOf", "enum", "const", "properties"})
MAX_OBJECT_DEPTH: Final = 10  # OpenAI's documented limits for a strict schema
MAX_PROPERTIES: Final = 5000
MAX_ENUM_VALUES: Final = 1000

Schema = dict[str, object]


def strict_for_openai(schema: Schema) -> Schema:
    """A copy of `schema` with every object closed and every property required; a property that was optional
    is made nullable (a null the model sends for it is dropped again by `drop_added_nulls`)."""
    adapted = _adapt(schema)
    assert isinstance(adapted, dict)
    return adapted


def _adapt(node: object) -> object:
    if not isinstance(node, dict):
        return node
    out: Schema = {key: _adapt_child(key, value) for key, value in node.items()}
    if _is_object(out):
        properties = out.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = _required(node)
        out["properties"] = {n: s if n in required else _nullable(s) for n, s in properties.items()}
        out["required"] = list(properties)
        out["additionalProperties"] = False
    return out


def _adapt_child(key: str, value: object) -> object:
    if key in SCHEMA_LIST and isinstance(value, list):
        return [_adapt(item) for item in value]
    if key in SCHEMA_MAP and isinstance(value, dict):
        return {name: _adapt(item) for name, item in value.items()}
    return _adapt(value) if key in SINGLE_SCHEMA else value


def _is_object(node: Schema) -> bool:
    kind = node.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or (kind is None and "properties" in node)


def _required(node: Schema) -> set[str]:
    required = node.get("required")
    return {name for name in required if isinstance(name, str)} if isinstance(required, list) else set()


def _nullable(schema: object) -> object:
    if accepts_null(schema):
        return schema
    if isinstance(schema, dict) and isinstance(kind := schema.get("type"), str | list):
        if "const" not in schema:
            kinds = [kind] if isinstance(kind, str) else list(kind)
            out = {**schema, "type": [*kinds, "null"]}
            if isinstance(enum := schema.get("enum"), list):
                out["enum"] = [*enum, None]
            return out
    return {"anyOf": [schema, {"type": "null"}]}


def accepts_null(schema: object) -> bool:
    """Whether the schema plainly allows null (a type, an enum or an anyOf branch that names it); a schema that
    allows it in a subtler way is made nullable again, which is harmless."""
    if schema is True or schema == {}:
        return True
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        enum = schema.get("enum")
        return not isinstance(enum, list) or None in enum
    if "const" in schema:
        return schema["const"] is None
    branches = schema.get("anyOf")
    return isinstance(branches, list) and any(accepts_null(b) for b in branches)


def openai_strict_ok(schema: Schema) -> bool:
    """Whether `strict_for_openai(schema)` is a schema OpenAI's strict mode accepts: the root an object, no
    keyword outside its subset, no open map (`additionalProperties` a schema), within its size limits."""
    if not _is_object(schema) or "anyOf" in schema:
        return False
    counts = [0, 0]  # properties, enum values
    return _strict_ok(schema, 1, counts) and counts[0] <= MAX_PROPERTIES and counts[1] <= MAX_ENUM_VALUES


def _strict_ok(node: object, depth: int, counts: list[int]) -> bool:
    # `true` and `{}` (any value) have no strict form, `false` (no value) has no answer; an open map
    # (`additionalProperties` a schema) would be closed by the adaptation, leaving only `{}` to answer.
    if not isinstance(node, dict) or not _CONSTRAINING & node.keys():
        return False
    if UNSUPPORTED & node.keys() or isinstance(node.get("additionalProperties"), dict):
        return False
    if _is_object(node):
        if depth > MAX_OBJECT_DEPTH:
            return False
        depth += 1
        properties = node.get("properties")
        counts[0] += len(properties) if isinstance(properties, dict) else 0
    if isinstance(enum := node.get("enum"), list):
        counts[1] += len(enum)
    return all(_children_ok(key, value, depth, counts) for key, value in node.items())


def _children_ok(key: str, value: object, depth: int, counts: list[int]) -> bool:
    if key in SCHEMA_LIST and isinstance(value, list):
        return all(_strict_ok(item, depth, counts) for item in value)
    if key in SCHEMA_MAP and isinstance(value, dict):
        return all(_strict_ok(item, depth, counts) for item in value.values())
    if key == "additionalProperties":
        return True  # `false` once adapted; an open map was refused above
    return _strict_ok(value, depth, counts) if key in SINGLE_SCHEMA else True


def drop_added_nulls(schema: Schema, value: object) -> object:
    """The answer to an adapted schema, as the client's schema has it: a property that was optional there and
    came back null is left out (unless the client's schema allows null for it). Follows `properties` and
    `items`, and `$ref` within `$defs`, which is where strict schemas keep their objects."""
    return _drop(schema, schema, value, 0)


def _drop(root: Schema, schema: object, value: object, hops: int) -> object:
    if not isinstance(schema, dict) or hops > 64:  # hops: a $ref chain without progress (compile refused those)
        return value
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and isinstance(defs := root.get("$defs"), dict):
        return _drop(root, defs.get(ref.removeprefix("#/$defs/")), value, hops + 1)
    if isinstance(value, list) and isinstance(items := schema.get("items"), dict):
        return [_drop(root, items, item, 0) for item in value]
    if not isinstance(value, dict) or not isinstance(properties := schema.get("properties"), dict):
        return value
    required = _required(schema)
    return {
        name: _drop(root, properties.get(name), item, 0)
        for name, item in value.items()
        if not (item is None and name in properties and name not in required and not accepts_null(properties[name]))
    }
