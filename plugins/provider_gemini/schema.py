"""JSON Schema (tool input_schema, structured output) -> Gemini's Schema, an OpenAPI 3.0 subset.

Gemini answers 400 for keywords outside its subset (`$schema`, `additionalProperties`, `$ref`, `const`, type
arrays, string formats other than enum/date-time, empty `properties` on an object), so the schema is rebuilt
from the keywords it knows: references are inlined, `["x", "null"]` becomes `nullable`, `const` an enum, and
anything else is dropped. Losing a constraint is better than losing the request.
"""

from __future__ import annotations

from typing import Any

# Keywords Gemini knows, by the JSON type it accepts for them (a wrong type is a 400 there, so it is dropped).
TEXT_KEYWORDS = ("title", "description", "pattern")
COUNT_KEYWORDS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
NUMBER_KEYWORDS = ("minimum", "maximum")
VALUE_KEYWORDS = ("default", "example")
FORMATS = {
    "string": frozenset({"enum", "date-time"}),
    "number": frozenset({"float", "double"}),
    "integer": frozenset({"int32", "int64"}),
}
TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})
MAX_RECURSION = 2  # a recursive definition is expanded this many times, then cut: Gemini has no references

Schema = dict[str, Any]


def to_gemini_schema(schema: object) -> Schema:
    """The Gemini form of a JSON Schema document (its `$defs` / `definitions` are inlined)."""
    if not isinstance(schema, dict):
        return {}
    defs: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            defs.update({f"#/{key}/{name}": value for name, value in schema[key].items()})
    return _convert(schema, defs, ())


def _convert(schema: object, defs: dict[str, Any], seen: tuple[str, ...]) -> Schema:
    """`seen` holds the references expanded on the way here, to cut recursion."""
    if not isinstance(schema, dict):
        return {}  # `true` / `false` schemas: anything goes
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _target(ref, defs, seen)
        if target is None:
            return {"type": "object"}
        schema, seen = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}, (*seen, ref)
    if isinstance(schema.get("allOf"), list):
        schema = _merged(schema, defs, seen)
    out: Schema = {}
    _set_type(schema, out)
    variants = _variants(schema, defs, seen, out)
    if variants:
        out["anyOf"] = variants
    _copy_constraints(schema, out)
    _copy_enum(schema, out)
    if isinstance(schema.get("items"), dict):
        out["items"] = _convert(schema["items"], defs, seen)
    _copy_properties(schema, defs, seen, out)
    return out


def _target(ref: str, defs: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any] | None:
    target = defs.get(ref)
    return target if isinstance(target, dict) and seen.count(ref) < MAX_RECURSION else None


def _merged(schema: dict[str, Any], defs: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    """`allOf` folded into the schema: properties and required lists are joined, other keywords overwrite."""
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        if isinstance(part, dict) and isinstance(part.get("$ref"), str):
            part = _target(part["$ref"], defs, seen) or {}
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**value, **merged.get("properties", {})}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _set_type(schema: dict[str, Any], out: Schema) -> None:
    """Copy `type`: a type list becomes its first non-null type, and `nullable` when it allows null."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    real = [k for k in kinds if k in TYPES]
    if real:
        out["type"] = real[0]
    elif "enum" in schema or "const" in schema:
        out["type"] = "string"  # Gemini enums are strings
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in FORMATS.get(out.get("type", ""), ()):
        out["format"] = fmt
    if "null" in kinds or schema.get("nullable") is True:
        out["nullable"] = True


def _variants(schema: dict[str, Any], defs: dict[str, Any], seen: tuple[str, ...], out: Schema) -> list[Schema]:
    """anyOf / oneOf as anyOf; a `null` variant becomes `nullable`, and a single variant is merged in."""
    raw = schema.get("anyOf") or schema.get("oneOf")
    if not isinstance(raw, list):
        return []
    variants: list[Schema] = []
    for item in raw:
        if isinstance(item, dict) and item.get("type") == "null":
            out["nullable"] = True
        else:
            variants.append(_convert(item, defs, seen))
    if len(variants) == 1 and "type" not in out:
        out.update({k: v for k, v in variants[0].items() if k not in out})
        return []
    return variants


def _copy_constraints(schema: dict[str, Any], out: Schema) -> None:
    for key in TEXT_KEYWORDS:
        if isinstance(schema.get(key), str):
            out[key] = schema[key]
    for key in COUNT_KEYWORDS:
        if isinstance(schema.get(key), int) and not isinstance(schema[key], bool):
            out[key] = schema[key]
    for key in NUMBER_KEYWORDS:
        if isinstance(schema.get(key), (int, float)) and not isinstance(schema[key], bool):
            out[key] = schema[key]
    for key in VALUE_KEYWORDS:
        if key in schema:
            out[key] = schema[key]


def _copy_enum(schema: dict[str, Any], out: Schema) -> None:
    values = schema["enum"] if isinstance(schema.get("enum"), list) else [schema["const"]] if "const" in schema else []
    # Gemini only has string enums; numbers become their text form only when the type is a string.
    if values and out.get("type") == "string":
        out["enum"] = [v if isinstance(v, str) else str(v) for v in values if v is not None]


def _copy_properties(schema: dict[str, Any], defs: dict[str, Any], seen: tuple[str, ...], out: Schema) -> None:
    properties = schema.get("properties")
    if not isinstance(properties, dict) or not properties:
        return  # an empty `properties` is a 400 on Gemini
    out["properties"] = {name: _convert(value, defs, seen) for name, value in properties.items()}
    required = schema.get("required")
    if isinstance(required, list):
        known = [name for name in required if isinstance(name, str) and name in properties]
        if known:
            out["required"] = known
