"""The schema layer of structured output: a client's JSON Schema is checked and compiled once (bounded, cached by
its canonical bytes), then an answer's text is parsed and validated against it, with errors that say where.

The validator is jsonschema-rs (Rust, draft 2020-12 by default): bench/structured_validation.py compares it with
fastjsonschema and jsonschema on our schemas. It is the only one of the three that validates a 200 KB answer in
well under 5 ms, reports both the answer's path and the schema keyword that failed, and turns a too-deep schema
into an error instead of a SyntaxError or RecursionError. The checks here come before it for what no validator
can be trusted with: depth and size (a client controls both), references to anything but this document (the
gateway must never fetch a URL a client names; jsonschema-rs and fastjsonschema both do by default) and `$ref`
cycles that never reach a value.

`format` is an annotation, as draft 2020-12 has it by default: providers differ in the formats they enforce, and
an answer refused for one the upstream was never held to would only spend repair calls.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from dataclasses import dataclass
from typing import Final

import jsonschema_rs
import msgspec

# 64 levels of JSON in the schema document: an object property costs two (`properties`, its name), so this is 31
# levels of objects, three times what OpenAI's strict mode accepts (10), and below where the validators break
# (jsonschema-rs refuses 100 to 200 levels of objects, fastjsonschema's generated code fails between 48 and 64).
MAX_DEPTH: Final = 64
# Canonical bytes of one schema: more than any provider takes (OpenAI's cap is 5,000 properties and 120,000
# characters of names and enum values); with CACHE_SIZE it bounds the cache's memory (128 x 256 KiB of keys).
MAX_SCHEMA_BYTES: Final = 256 * 1024
CACHE_SIZE: Final = 128
MAX_MESSAGE: Final = 200  # an error repeats a piece of the answer; a line is enough to repair from

Path = tuple[str | int, ...]

# Where a keyword's value is a subschema (one, a map of them, a list of them): what the walk reads as schema.
SINGLE_SCHEMA = frozenset(
    {"items", "additionalItems", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"}
    | {"unevaluatedItems", "unevaluatedProperties"}
)
SCHEMA_MAP = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
SCHEMA_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
# Applied to the same place in the answer: a cycle through only these never reaches a value, so it never ends.
_IN_PLACE_ONE = frozenset({"not", "if", "then", "else"})
_IN_PLACE_MANY = frozenset({"allOf", "anyOf", "oneOf"})
_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
_ANCHOR = re.compile(r"^[A-Za-z_][-A-Za-z0-9._]*$")


class SchemaError(msgspec.Struct, frozen=True):
    """A schema the gateway will not use: `path` is where in the schema (dotted, "" for the root)."""

    path: str
    message: str

    def describe(self) -> str:
        return f"invalid schema at {self.path or '(root)'}: {self.message}"


class Invalid(msgspec.Struct, frozen=True):
    """An answer that does not validate: `path` is where in the answer ("items.2.name", "" for the whole of it),
    `schema_path` the schema keyword that failed ("properties.items.items.properties.name.type")."""

    path: str
    schema_path: str
    message: str

    def describe(self) -> str:
        return f"at {self.path or '(root)'} (schema {self.schema_path or '(root)'}): {self.message}"


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A checked, compiled schema. `canonical` is its JSON with sorted keys: the cache key, and the text to show
    a model that must repair an answer."""

    canonical: bytes
    validator: jsonschema_rs.Validator

    @property
    def text(self) -> str:
        return self.canonical.decode()

    def validate_text(self, text: str | bytes) -> Invalid | None:
        """None when `text` is JSON that validates; else the first error."""
        parsed = parse_json(text)
        return parsed if isinstance(parsed, Invalid) else self.validate(parsed.value)

    def validate(self, value: object) -> Invalid | None:
        # is_valid stops at the first failure and builds no error: the common (valid) case pays for nothing else.
        try:
            if self.validator.is_valid(value):
                return None
            error = next(iter(self.validator.iter_errors(value)), None)
        except ValueError as exc:  # a value that is not JSON (from a caller, never from parse_json)
            return Invalid("", "", one_line(f"the answer cannot be checked: {exc}"))
        if error is None:  # is_valid and iter_errors agree; this keeps a disagreement from being a crash
            return Invalid("", "", "the answer does not match the schema")
        return Invalid(dotted(error.instance_path), dotted(error.schema_path), one_line(error.message))


class Parsed(msgspec.Struct, frozen=True):
    value: object


def parse_json(text: str | bytes) -> Parsed | Invalid:
    """The answer's JSON, or why it is not JSON (what `json_object` requests are checked for)."""
    try:
        return Parsed(msgspec.json.decode(text))
    except msgspec.DecodeError as exc:
        return Invalid("", "", one_line(f"the answer is not valid JSON: {exc}"))
    except RecursionError:  # msgspec stops near 1,000 levels instead of exhausting the stack
        return Invalid("", "", "the answer nests too deeply to check")


def compile_schema(schema: object) -> CompiledSchema | SchemaError:
    """Check and compile a client's schema (a JSON object, or a boolean); the same schema compiles once."""
    if not isinstance(schema, dict | bool):
        return SchemaError("", f"a schema must be a JSON object, not {_json_type(schema)}")
    try:
        canonical = msgspec.json.encode(schema, order="sorted")
    except RecursionError:
        return _walk(schema).error or SchemaError("", f"nested deeper than {MAX_DEPTH} levels")
    except (TypeError, msgspec.EncodeError) as exc:
        return SchemaError("", one_line(f"not JSON: {exc}"))
    if len(canonical) > MAX_SCHEMA_BYTES:
        return SchemaError("", f"{len(canonical)} bytes of JSON; at most {MAX_SCHEMA_BYTES} are accepted")
    return _compile(canonical)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compile(canonical: bytes) -> CompiledSchema | SchemaError:
    """Keyed by the canonical bytes, so the same schema written with its keys in another order is one entry; a
    schema that fails is remembered too (a client repeating it costs nothing either)."""
    schema = msgspec.json.decode(canonical)
    found = _walk(schema)
    error = found.error or _check_refs(schema, found)
    if error is not None:
        return error
    try:
        # offline: even if a reference slipped past _check_refs, the validator must not fetch it.
        return CompiledSchema(canonical, jsonschema_rs.validator_for(schema, offline=True))
    except jsonschema_rs.ValidationError as exc:  # the schema fails its meta-schema: instance_path is where
        return _meta_error(exc)
    except (jsonschema_rs.ReferencingError, ValueError) as exc:
        return SchemaError("", one_line(str(exc)))


def _meta_error(exc: jsonschema_rs.ValidationError) -> SchemaError:
    path = dotted(exc.instance_path)
    if exc.instance_path and exc.instance_path[-1] == "type":
        # The meta-schema's own words ("not valid under any of the schemas listed in the 'anyOf' keyword") do
        # not say what a type may be.
        value = one_line(msgspec.json.encode(exc.instance).decode())
        return SchemaError(path, f"{value} is not a JSON Schema type (one of {', '.join(_TYPES)})")
    if not path and "meta-schema" in exc.message:
        path = "$schema"
    return SchemaError(path, one_line(exc.message))


class _Found(msgspec.Struct):
    """What one walk of the schema finds: every subschema by its path, every reference, every anchor."""

    schemas: dict[Path, object] = msgspec.field(default_factory=dict)
    refs: list[tuple[Path, str]] = msgspec.field(default_factory=list)
    anchors: dict[str, Path] = msgspec.field(default_factory=dict)
    error: SchemaError | None = None


def _walk(schema: object) -> _Found:
    """One pass, with a stack instead of recursion so no depth can exhaust Python's. Only subschemas (by the
    keyword they sit under) are read for references: a `$ref` inside `const` or `examples` is data."""
    found = _Found()
    stack: list[tuple[object, Path, bool]] = [(schema, (), True)]
    while stack:
        node, path, is_schema = stack.pop()
        if len(path) > MAX_DEPTH:
            found.error = SchemaError(dotted(path[: MAX_DEPTH + 1]), f"nested deeper than {MAX_DEPTH} levels")
            return found
        if is_schema:
            found.schemas[path] = node
            if isinstance(node, dict) and (error := _note_keywords(node, path, found)) is not None:
                found.error = error
                return found
        stack.extend(_children(node, path, is_schema))
    return found


def _note_keywords(node: dict[str, object], path: Path, found: _Found) -> SchemaError | None:
    for keyword in ("$dynamicRef", "$recursiveRef"):
        if keyword in node:
            return SchemaError(dotted((*path, keyword)), f"{keyword} is not supported; use $ref to a $defs entry")
    if path and "$id" in node:
        return SchemaError(dotted((*path, "$id")), "$id is only supported at the root of the schema")
    ref = node.get("$ref")
    if ref is not None:
        if not isinstance(ref, str) or not ref.startswith("#"):
            where = dotted((*path, "$ref"))
            return SchemaError(where, "only references within the schema (#/...) are supported")
        found.refs.append(((*path, "$ref"), ref))
    anchor = node.get("$anchor")
    if isinstance(anchor, str):
        found.anchors[anchor] = path
    return None


def _children(node: object, path: Path, is_schema: bool) -> list[tuple[object, Path, bool]]:
    if isinstance(node, list):
        return [(item, (*path, i), False) for i, item in enumerate(node)]
    if not isinstance(node, dict):
        return []
    if not is_schema:
        return [(value, (*path, key), False) for key, value in node.items()]
    out: list[tuple[object, Path, bool]] = []
    for key, value in node.items():
        if key in SCHEMA_LIST and isinstance(value, list):
            out.extend((item, (*path, key, i), True) for i, item in enumerate(value))
        elif key in SCHEMA_MAP and isinstance(value, dict):
            # The map is not a schema, its values are; their paths count the map's level toward MAX_DEPTH.
            out.extend((item, (*path, key, name), True) for name, item in value.items())
        else:
            out.append((value, (*path, key), key in SINGLE_SCHEMA))
    return out


def _check_refs(schema: object, found: _Found) -> SchemaError | None:
    """Every `$ref` must point at a subschema of this document, and no chain of them may loop at one place in
    the answer (`a` is `b`, `b` is `a`), which no validator can finish. Recursion through `properties` or `items`
    is fine: each turn reaches deeper into a finite answer."""
    by_pointer = {tuple(str(part) for part in path): path for path in found.schemas}
    targets: dict[Path, Path] = {}  # the subschema holding a $ref -> the subschema it names
    for where, ref in found.refs:
        target = _resolve(ref, found, by_pointer)
        if target is None:
            return SchemaError(dotted(where), f"{one_line(ref)} names no subschema of this schema")
        targets[where[:-1]] = target
    return _find_cycle(found, targets)


def _resolve(ref: str, found: _Found, by_pointer: dict[tuple[str, ...], Path]) -> Path | None:
    fragment = urllib.parse.unquote(ref[1:])
    if not fragment:
        return ()
    if not fragment.startswith("/"):
        return found.anchors.get(fragment) if _ANCHOR.match(fragment) else None
    tokens = tuple(token.replace("~1", "/").replace("~0", "~") for token in fragment[1:].split("/"))
    return by_pointer.get(tokens)


def _find_cycle(found: _Found, targets: dict[Path, Path]) -> SchemaError | None:
    """Depth-first over the in-place edges (a stack of iterators, no recursion); meeting a subschema that is on
    the current chain closes a cycle."""
    state: dict[Path, bool] = {}  # True while on the current chain, False once finished
    for start in targets:
        if start in state:
            continue
        state[start] = True
        chain: list[tuple[Path, list[Path]]] = [(start, _in_place(start, found, targets))]
        while chain:
            node, edges = chain[-1]
            if not edges:
                state[node] = False
                chain.pop()
                continue
            step = edges.pop()
            if state.get(step) is True:
                loop = [path for path, _ in chain[[p for p, _ in chain].index(step) :]] + [step]
                return _cycle_error(loop, targets)
            if step not in state:
                state[step] = True
                chain.append((step, _in_place(step, found, targets)))
    return None


def _cycle_error(loop: list[Path], targets: dict[Path, Path]) -> SchemaError:
    """Named by a `$ref` on the loop (there is one: without references a schema is a tree)."""
    hops = [i for i in range(len(loop) - 1) if targets.get(loop[i]) == loop[i + 1]]
    where = (*loop[hops[0]], "$ref") if hops else loop[0]
    names = " -> ".join(dotted(p) or "(root)" for p in loop)
    return SchemaError(dotted(where), f"$ref cycle that never reaches a value: {names}")


def _in_place(path: Path, found: _Found, targets: dict[Path, Path]) -> list[Path]:
    """The subschemas applied to the same value as the one at `path`."""
    node = found.schemas.get(path)
    if not isinstance(node, dict):
        return []
    out = [targets[path]] if path in targets else []
    out += [(*path, key) for key in _IN_PLACE_ONE if key in node]
    for key in _IN_PLACE_MANY:
        if isinstance(items := node.get(key), list):
            out += [(*path, key, i) for i in range(len(items))]
    if isinstance(dependent := node.get("dependentSchemas"), dict):
        out += [(*path, "dependentSchemas", name) for name in dependent]
    return [p for p in out if p in found.schemas]


def dotted(path: list[str | int] | Path) -> str:
    return ".".join(str(part) for part in path)


def one_line(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def _json_type(value: object) -> str:
    names = {str: "a string", int: "a number", float: "a number", list: "an array", type(None): "null"}
    return names.get(type(value), type(value).__name__)
