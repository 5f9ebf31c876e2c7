"""Tool inputs that satisfy the tool's JSON Schema: every required property filled with a plausible value, so
that an agent (Claude Code against the demo config) can run the tool the mock calls instead of failing on `{}`.

Plausible by the property's name and the user's words: a path-like property gets the first file-like word of
the message (`notes.txt`, `src/app.py`), a command `echo`, a query or prompt the message itself. Enums, consts,
defaults and examples are used where the schema has them; lengths and bounds are respected.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 8  # schemas can be recursive ($ref cycles are not followed, but deep nesting is cut here too)
_FILE_LIKE = re.compile(r"[\w./~-]*[\w-]\.[A-Za-z0-9]{1,8}\b|(?:\.{0,2}/)?[\w.-]+/[\w./-]+")


def example_input(schema: Any, message: str) -> dict[str, Any]:
    """An object for `schema` (a tool's input_schema); `message` is the user's last text, for plausible values."""
    value = _value(schema, "", message, 0)
    return value if isinstance(value, dict) else {}


def _value(schema: Any, name: str, message: str, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _value(options[0], name, message, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        return _object(schema, message, depth)
    if kind == "array":
        count = schema.get("minItems", 0) if isinstance(schema.get("minItems"), int) else 0
        return [_value(schema.get("items"), name, message, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _string(schema, name, message)


def _object(schema: dict[str, Any], message: str, depth: int) -> dict[str, Any]:
    found, listed = schema.get("properties"), schema.get("required")
    properties: dict[str, Any] = found if isinstance(found, dict) else {}
    required = [r for r in listed if isinstance(r, str)] if isinstance(listed, list) else []
    return {name: _value(properties.get(name, {}), name, message, depth + 1) for name in required}


def _number(schema: dict[str, Any], kind: str) -> int | float:
    value: int | float = 1
    low, above, high = schema.get("minimum"), schema.get("exclusiveMinimum"), schema.get("maximum")
    if isinstance(low, int | float):
        value = max(value, low) if low > 0 else low
    if isinstance(above, int | float) and value <= above:
        value = above + 1
    if isinstance(high, int | float) and value > high:
        value = high
    return int(value) if kind == "integer" else float(value)


def _string(schema: dict[str, Any], name: str, message: str) -> str:
    lowered = name.lower()
    if schema.get("format") == "uri" or "url" in lowered:
        text = "https://example.com/"
    elif "path" in lowered or "file" in lowered or lowered in ("dir", "directory"):
        found = _FILE_LIKE.search(message)
        text = found.group(0) if found else "README.md"
    elif "command" in lowered or lowered == "cmd":
        text = "echo hello"
    elif "pattern" in lowered or "glob" in lowered:
        text = "*"
    elif lowered in ("query", "prompt", "question", "text", "content", "description", "message", "input"):
        text = message or "hello"
    else:
        text = f"example {name}" if name else "example"
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text = text.ljust(low, "x")
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text
