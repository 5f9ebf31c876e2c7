"""Fuzzing every inference route over real HTTP with a few thousand generated requests each.

One gateway per route, its anthropic and openai providers served by a fake upstream that always answers with a
valid success (JSON or SSE, as the request asks), plus the mock provider: any 5xx, dropped connection, malformed
answer or logged traceback is the gateway's own doing. Hypothesis (seeded, no database) generates the requests in a
worker thread and sends each one through the event loop that serves the gateway, so a failure is shrunk to a minimal
request. Requests are structurally valid bodies mutated (wrong types in any field, unknown and duplicate keys, deep
nesting, huge and NaN-ish numbers, surrogate escapes and invalid UTF-8, nasty model strings), bodies that are not
JSON, and odd headers (content type, encoding, async job headers, junk versions and keys, raw non-UTF-8 bytes).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import gzip
import json
import logging
import zlib
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import msgspec
import pytest
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from tests.conftest import MakeGateway, upstream_config
from tests.fakes import upstream as fake_upstream_module
from tests.fakes.upstream import FakeUpstream, Reply, anthropic_message, anthropic_sse, openai_completion, openai_sse

EXAMPLES = 300  # requests per route
REQUEST_TIMEOUT_S = 30.0
MAX_BODY_MB = 4  # the gateway's body limit here, so an over-limit body or gzip bomb stays cheap to send

# --- JSON text with whatever we want in it ---------------------------------------------------------------------


class RawJson(bytes):
    """Bytes written verbatim into a body: invalid JSON on purpose, or text json.dumps never writes."""


@dataclass(frozen=True)
class Pairs:
    """A JSON object written from its pairs in order, so a key can repeat."""

    items: tuple[tuple[str | RawJson, object], ...]


def encode(value: object, ascii_only: bool = False) -> bytes:
    if isinstance(value, RawJson):
        return bytes(value)
    if isinstance(value, dict):
        value = Pairs(tuple(value.items()))
    if isinstance(value, Pairs):
        return b"{" + b",".join(encode(k, ascii_only) + b":" + encode(v, ascii_only) for k, v in value.items) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(encode(v, ascii_only) for v in value) + b"]"
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


Path = tuple[Any, ...]


def paths(value: object, prefix: Path = ()) -> list[Path]:
    """Every node of a body (RawJson and Pairs are leaves)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def node_at(root: object, path: Path) -> Any:
    node: Any = root
    for step in path:
        node = node[step]
    return node


def replace_at(root: object, path: Path, value: object) -> object:
    if not path:
        return value
    node_at(root, path[:-1])[path[-1]] = value
    return root


# --- the nasty values ------------------------------------------------------------------------------------------

HUGE_NUMBERS = [b"1" + b"0" * 400, b"-" + b"9" * 400, b"1e999", b"-1e999", b"9223372036854775808", b"1e308"]
HUGE_NUMBERS += [b"18446744073709551616", b"-9223372036854775809", b"4.9e-324", b"1e-999", b"0." + b"0" * 500 + b"1"]
NAN_ISH = [b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"nan", b'"NaN"', b'"nan"', b'"Infinity"', b'"-inf"', b'"1e999"']
BAD_UNICODE = [b'"\\ud800"', b'"\\udfff"', b'"x\\ud800y"', b'"\\udc00\\ud800"', b'"\\ud800\\u0041"', b'"\\ud83d"']
BAD_UNICODE += [
    b'"\xff"',
    b'"\xfe\xff"',
    b'"\xc3\x28"',
    b'"\xed\xa0\x80"',
    b'"\xf4\x90\x80\x80"',
    b'"\xc0\xaf"',
    b'"\x80"',
]
BAD_UNICODE += [b'"\\u12"', b'"\\uZZZZ"', b'"\\x41"', b'"\\']
CONTROL_CHARS = [b'"\\u0000"', b'"a\\u0000b"', b'"\\r\\n"', b'"\\u001b[31m"', b'"\x00"', b'"\x01\x1f"', b'"\r\n"']
CONTROL_CHARS += [b'"\\u2028\\u2029"', b'"\\u202e"', b'"\\ufeff"', b'"\\uffff"', b'"\\b\\f\\t"']
WRONG_TYPES: list[object] = [True, False, None, 0, 1, 1.5, "x", [], {}, [None], [[]], [{}], {"type": None}, {"": ""}]
EMPTY: list[object] = ["", " ", "\t", [], {}]


def _deep(kind: str, depth: int) -> RawJson:
    if kind == "array":
        return RawJson(b"[" * depth + b"]" * depth)
    if kind == "object":
        return RawJson(b'{"a":' * depth + b"1" + b"}" * depth)
    if kind == "blocks":  # tool_result blocks inside tool_result blocks: the schema's own recursion
        return RawJson(b'[{"type":"tool_result","tool_use_id":"t","content":' * depth + b'"x"' + b"}]" * depth)
    if kind == "mixed":
        return RawJson(b'[{"a":' * depth + b"null" + b"}]" * depth)
    return RawJson(b"[" * depth)  # never closed


DEPTHS = st.one_of(st.integers(1, 3000), st.sampled_from([64, 500, 900, 950, 990, 999, 1000, 1001, 2000, 3000]))
DEEP = st.builds(_deep, st.sampled_from(["array", "object", "blocks", "mixed", "unclosed"]), DEPTHS)


def _tagged(strategy: st.SearchStrategy[Any], tag: str) -> st.SearchStrategy[tuple[object, str]]:
    return strategy.map(lambda value: (copy.deepcopy(value), tag))


def _raw(values: list[bytes]) -> st.SearchStrategy[RawJson]:
    return st.sampled_from(values).map(RawJson)


NASTY_VALUES: st.SearchStrategy[tuple[object, str]] = st.one_of(
    _tagged(st.sampled_from(WRONG_TYPES), "wrong_type"),
    _tagged(
        st.one_of(st.text(max_size=6), st.integers(), st.floats(allow_nan=False, allow_infinity=False)), "wrong_type"
    ),
    _tagged(_raw(HUGE_NUMBERS) | st.integers(min_value=2**53), "huge_number"),
    _tagged(st.integers(max_value=-1) | st.sampled_from([-(2**63), -1.5, -0.0]), "negative_number"),
    _tagged(_raw(NAN_ISH), "nan"),
    _tagged(st.sampled_from(EMPTY), "empty"),
    _tagged(_raw(BAD_UNICODE), "bad_unicode"),
    _tagged(_raw(CONTROL_CHARS), "control_chars"),
    _tagged(DEEP, "deep"),
    _tagged(
        st.builds(lambda n, c: c * n, st.integers(1000, 300_000), st.sampled_from(["a", "é", "😀", "\x00"])), "long"
    ),
)
UNKNOWN_KEYS: st.SearchStrategy[str | RawJson] = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["__proto__", "constructor", "model ", "MODEL", "stream\x00", "x" * 5000, "😀", "$ref"]),
    _raw([b'"k\xff"', b'"\\ud800"', b'"\xc3"', b'"\\u0000"']),
)

# Model strings: URL syntax, path traversal, header injection, length limits, prefixes configured or not.
MODEL_PREFIXES = ["", "anthropic/", "openai/", "mock/", "nope/", "/", "mock//"]
MODEL_SUFFIXES = ["m", "claude-x", "gpt-x", "", "../x", "..", ".", "a/../../b", "x?y=1", "x#f", "x%2e%2e", "%00"]
MODEL_SUFFIXES += ["x\r\nX-Evil: 1", "x\n", "x\r", "x\x00", "\x00", " x", "x ", "x\t", "ü", "😀", "x\\y", "x/"]
MODEL_SUFFIXES += [":0", "\x7f", "\u202e", "a" * 251, "a" * 252, "a" * 5000, "./m", "m/.", "m/..", "...", "a:b@c"]
RAW_MODELS = [b'"mock/\\ud800"', b'"mock/\xff"', b'"mock/m\\u0000"', b'"\\u0000"', b'"anthropic/\\r\\n"', b"null"]
NASTY_MODELS: st.SearchStrategy[object] = st.one_of(
    st.builds(str.__add__, st.sampled_from(MODEL_PREFIXES), st.sampled_from(MODEL_SUFFIXES)),
    st.builds(
        str.__add__,
        st.sampled_from(MODEL_PREFIXES),
        st.text(alphabet=st.sampled_from(list("ab./?#%\\\x00\r\n \t:~ü")), max_size=12),
    ),
    _raw(RAW_MODELS),
)

# --- structurally valid bodies ---------------------------------------------------------------------------------

TEXT = st.text(max_size=12)
NAMES = st.sampled_from(["get_weather", "f", "tool_1", "a-b"]) | st.text(min_size=1, max_size=6)
IDS = st.sampled_from(["toolu_01", "call_1", "t"]) | st.text(max_size=6)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n2 0 obj << /Type /Pages >> endobj\n%%EOF"
B64 = st.one_of(
    st.just(base64.b64encode(PNG).decode()),
    st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode()),
    st.sampled_from(["", "!!!", "====", "a", "data:image/png;base64,AAAA"]),
)
JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), TEXT)
ARGS = st.dictionaries(st.text(max_size=5), JSON_LEAVES, max_size=3)
MEDIA = st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml", ""])
URLS = st.sampled_from(["https://example.com/a.png", "http://127.0.0.1/x", "file:///etc/passwd", "", "data:,x"])


def _obj(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(fields)


A_TEXT = _obj(type=st.just("text"), text=TEXT)
A_SOURCES = st.one_of(
    _obj(type=st.just("base64"), media_type=MEDIA, data=B64),
    _obj(type=st.just("url"), url=URLS),
)
A_DOC_SOURCES = st.one_of(
    _obj(type=st.just("base64"), media_type=st.just("application/pdf"), data=st.just(base64.b64encode(PDF).decode())),
    _obj(type=st.just("base64"), media_type=st.just("application/pdf"), data=B64),
    _obj(type=st.just("text"), media_type=st.just("text/plain"), data=TEXT),
    _obj(type=st.just("url"), url=URLS),
    _obj(type=st.just("content"), content=st.lists(A_TEXT, max_size=2)),
)
A_BLOCKS = st.one_of(
    A_TEXT,
    _obj(type=st.just("image"), source=A_SOURCES),
    _obj(type=st.just("document"), source=A_DOC_SOURCES, title=TEXT),
    _obj(type=st.just("tool_use"), id=IDS, name=NAMES, input=ARGS),
    _obj(
        type=st.just("tool_result"),
        tool_use_id=IDS,
        content=TEXT | st.lists(A_TEXT | _obj(type=st.just("image"), source=A_SOURCES), max_size=2),
        is_error=st.booleans(),
    ),
    _obj(type=st.just("thinking"), thinking=TEXT, signature=st.just("sig_fake_0001")),
    _obj(type=st.just("redacted_thinking"), data=TEXT),
)
A_MESSAGES = st.lists(
    _obj(role=st.sampled_from(["user", "assistant"]), content=TEXT | st.lists(A_BLOCKS, min_size=1, max_size=3)),
    min_size=1,
    max_size=3,
)
SCHEMA = st.just({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
A_TOOLS = st.lists(
    _obj(name=NAMES, description=TEXT, input_schema=SCHEMA)
    | _obj(type=st.just("web_search_20250305"), name=st.just("web_search")),
    max_size=2,
)
A_OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "stream": st.booleans(),
    "system": TEXT | st.lists(_obj(type=st.just("text"), text=TEXT, cache_control=st.just({"type": "ephemeral"}))),
    "tools": A_TOOLS,
    "tool_choice": _obj(type=st.sampled_from(["auto", "any", "none"])) | _obj(type=st.just("tool"), name=NAMES),
    "thinking": _obj(type=st.just("enabled"), budget_tokens=st.integers(1024, 4096)),
    "temperature": st.floats(0, 1),
    "top_p": st.floats(0, 1),
    "top_k": st.integers(1, 100),
    "stop_sequences": st.lists(TEXT, max_size=2),
    "metadata": _obj(user_id=TEXT),
    "output_config": _obj(effort=st.sampled_from(["low", "high"])),
    "service_tier": st.just("auto"),
}

O_PARTS = st.one_of(
    _obj(type=st.just("text"), text=TEXT),
    _obj(type=st.just("image_url"), image_url=_obj(url=URLS | B64.map("data:image/png;base64,".__add__))),
    _obj(type=st.just("input_audio"), input_audio=_obj(data=B64, format=st.sampled_from(["wav", "mp3"]))),
    _obj(type=st.just("file"), file=_obj(file_data=B64.map("data:application/pdf;base64,".__add__), filename=TEXT)),
)
O_TOOL_CALLS = st.lists(
    _obj(id=IDS, type=st.just("function"), function=_obj(name=NAMES, arguments=ARGS.map(json.dumps) | TEXT)),
    min_size=1,
    max_size=2,
)
O_MESSAGES = st.lists(
    st.one_of(
        _obj(role=st.sampled_from(["system", "developer", "user"]), content=TEXT | st.lists(O_PARTS, max_size=3)),
        _obj(role=st.just("assistant"), content=TEXT | st.none()),
        _obj(role=st.just("assistant"), content=st.none(), tool_calls=O_TOOL_CALLS),
        _obj(role=st.just("tool"), tool_call_id=IDS, content=TEXT),
    ),
    min_size=1,
    max_size=3,
)
O_FUNCTION = _obj(name=NAMES, description=TEXT, parameters=SCHEMA)
O_OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "stream": st.booleans(),
    "stream_options": _obj(include_usage=st.booleans()),
    "max_tokens": st.integers(1, 64),
    "max_completion_tokens": st.integers(1, 64),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "n": st.integers(1, 2),
    "stop": TEXT | st.lists(TEXT, max_size=2),
    "tools": st.lists(_obj(type=st.just("function"), function=O_FUNCTION), max_size=2),
    "tool_choice": st.sampled_from(["auto", "none", "required"])
    | _obj(type=st.just("function"), function=_obj(name=NAMES)),
    "parallel_tool_calls": st.booleans(),
    "response_format": st.one_of(
        _obj(type=st.sampled_from(["text", "json_object"])),
        _obj(type=st.just("json_schema"), json_schema=_obj(name=st.just("out"), schema=SCHEMA)),
    ),
    "reasoning_effort": st.sampled_from(["low", "medium", "high"]),
    "user": TEXT,
    "seed": st.integers(0, 2**31),
    "metadata": st.dictionaries(st.text(max_size=4), TEXT, max_size=2),
}


@st.composite
def bodies(draw: st.DrawFn, route: Route) -> dict[str, Any]:
    anthropic = route.dialect == "anthropic"
    body: dict[str, Any] = {"model": draw(st.sampled_from(route.models))}
    if anthropic:
        body["max_tokens"] = draw(st.integers(1, 64))
    body["messages"] = draw(A_MESSAGES if anthropic else O_MESSAGES)
    optional = A_OPTIONAL if anthropic else O_OPTIONAL
    stream = draw(st.sampled_from([True, True, False, None, None]))
    if stream is not None:
        body["stream"] = stream
    for name in draw(st.sets(st.sampled_from(sorted(optional)), max_size=4)):
        body.setdefault(name, draw(optional[name]))
    if draw(st.integers(0, 9)) == 0:
        body["fallbacks"] = draw(st.lists(st.sampled_from([*route.models, "mock/other"]), max_size=2))
    return body


# --- bodies made nasty -----------------------------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any]) -> tuple[object, set[str]]:
    """One to three mutations, each at a top-level field or anywhere in the body."""
    root: object = body
    tags = {"mutated"}
    for _ in range(draw(st.integers(1, 3))):
        everywhere = paths(root)
        top = [p for p in everywhere if len(p) <= 1]
        path = draw(st.sampled_from(top if draw(st.booleans()) else everywhere))
        node = node_at(root, path)
        name = next((str(step) for step in reversed(path) if isinstance(step, str)), "<root>")
        ops = ["replace", "replace", "replace", "unknown_field"] if isinstance(node, dict) else ["replace"]
        if isinstance(node, dict) and node:
            ops += ["delete_field", "dup_keys"]
        op = draw(st.sampled_from(ops))
        if op == "replace":
            value, tag = draw(NASTY_VALUES)
            root = replace_at(root, path, value)
            tags |= {tag, f"field:{name}"}
        elif op == "unknown_field":
            value, tag = draw(NASTY_VALUES | _tagged(JSON_LEAVES, "plain"))
            node[draw(UNKNOWN_KEYS)] = value
            tags |= {"unknown_field", tag}
        else:
            key = draw(st.sampled_from(sorted(node, key=repr)))
            tags |= {op, f"field:{key}"}
            if op == "delete_field":
                del node[key]
            else:
                value, tag = draw(NASTY_VALUES | _tagged(JSON_LEAVES, "plain"))
                pairs = [*node.items(), (key, value)] if draw(st.booleans()) else [(key, value), *node.items()]
                root = replace_at(root, path, Pairs(tuple(pairs)))
    return root, tags


@st.composite
def duplicate_keys(draw: st.DrawFn, body: dict[str, Any], route: Route) -> Pairs:
    """The body with some top-level keys twice: the second value valid, wrong, or flipped (stream)."""
    items: list[tuple[str | RawJson, object]] = list(body.items())
    alternatives: dict[str, st.SearchStrategy[Any]] = {
        "model": st.sampled_from(route.models) | NASTY_MODELS,
        "stream": st.booleans(),
        "messages": st.just([]) | st.just("x"),
        "max_tokens": st.integers(-1, 64),
    }
    for name in draw(st.lists(st.sampled_from(sorted(alternatives)), min_size=1, max_size=3)):
        items.insert(draw(st.integers(0, len(items))), (name, draw(alternatives[name])))
    return Pairs(tuple(items))


@st.composite
def not_json(draw: st.DrawFn, valid: bytes) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["empty_body", "truncated", "noise", "non_object", "garbage"]))
    if kind == "empty_body":
        return draw(st.sampled_from([b"", b" ", b"\r\n\t", b"\x00"])), kind
    if kind == "truncated":
        return valid[: draw(st.integers(0, len(valid) - 1))], kind
    if kind == "noise":
        return draw(st.binary(min_size=1, max_size=300)), kind
    if kind == "non_object":
        options = [b"[]", b"[" + valid + b"]", b"42", b"-1", b'"text"', b"null", b"true", b"1e999", b"NaN", b"{}"]
        return draw(st.sampled_from([*options, json.dumps(valid.decode(errors="replace")).encode()])), kind
    garbage = [
        valid + b"}",
        valid + b"\x00",
        valid + b" " + valid,
        b"\xef\xbb\xbf" + valid,
        b"\xff\xfe" + valid,
        valid.decode(errors="replace").encode("utf-16"),
        valid.replace(b":", b"=", 1),
        valid.replace(b'"', b"'"),
        b"{model: 1, messages: []}",
        b'{"model":"mock/m",/* c */"messages":[]}',
    ]
    return draw(st.sampled_from(garbage)), kind


# --- transport: headers, encodings, query strings, raw header bytes ---------------------------------------------

CONTENT_TYPES = ["", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "*/*"]
CONTENT_TYPES += ["application/json; charset=utf-16", "application/json; charset=latin-1", "APPLICATION/JSON"]
CONTENT_TYPES += ["application/vnd.api+json", "application/jsonp", "text/json", "json", "application/json;;;"]
JUNK_IDS = ["", " ", "x", "00000000-0000-0000-0000-000000000000", "../../etc/passwd", "' OR '1'='1", "%00", "*"]
JUNK_IDS += ["a" * 4096, "5b0c9f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "null", "undefined", "\t"]
HEADER_CHOICES: dict[str, list[tuple[str, str]]] = {
    "async": [("x-bf-async", v) for v in ["true", "TRUE", " 1 ", "yes", "false", "", "junk"]],
    "async_id": [("x-bf-async-id", v) for v in JUNK_IDS],
    "ttl": [("x-bf-async-job-result-ttl", v) for v in ["0", "-1", "abc", "1e3", "9" * 30, "2592001", " 5 ", ""]],
    "version": [("anthropic-version", v) for v in ["", "junk", "2023-06-01", "9999-99-99", "x" * 2000, "a, b"]]
    + [("anthropic-beta", v) for v in ["junk", "a,b,,", "", "prompt-caching-2024-07-31"]],
    "auth": [("Authorization", v) for v in ["Bearer ", "Basic Zm9vOmJhcg==", "Bearer sk-bf-" + "a" * 500, "bearer x"]]
    + [("x-api-key", v) for v in ["", "sk-bf-unknown", "k" * 3000]]
    + [("x-bf-vk", "junk"), ("x-goog-api-key", "sk-bf-x")],
}
QUERIES = ["?beta=true", "?x=%00", "?a=1&a=2", "?%zz", "?" + "a" * 2000, "?stream=true", "#frag", "?model=mock/m"]
RAW_HEADER_NAMES = ["x-api-key", "Authorization", "x-bf-async-id", "anthropic-version", "anthropic-beta", "x-bf-vk"]
RAW_HEADER_NAMES += ["x-bf-async", "x-bf-async-job-result-ttl", "Content-Type", "x-goog-api-key", "User-Agent"]
RAW_HEADER_VALUES = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc", b"caf\xe9", "é".encode(), "😀".encode()]


def _gzip_bomb() -> bytes:
    return gzip.compress(b" " * (MAX_BODY_MB * 1024 * 1024 + 1), compresslevel=9)


GZIP_BOMB = _gzip_bomb()


@dataclass(frozen=True)
class Case:
    body: bytes
    headers: tuple[tuple[str, str], ...]
    query: str = ""
    raw_headers: tuple[bytes, ...] = ()  # sent over a raw socket: bytes aiohttp's client would not send
    tags: frozenset[str] = frozenset()


@st.composite
def transport(draw: st.DrawFn, body: bytes) -> tuple[bytes, dict[str, str], str, tuple[bytes, ...], set[str]]:
    headers = {"Content-Type": "application/json"}
    if draw(st.integers(0, 9)) < 7:
        return body, headers, "", (), set()
    tags = {"odd_headers"}
    query, raw = "", ()
    kinds = ["content_type", "encoding", "async", "async_id", "ttl", "version", "auth", "query", "raw_header"]
    for kind in draw(st.sets(st.sampled_from(kinds), min_size=1, max_size=3)):
        tags.add(kind)
        if kind == "content_type":
            if draw(st.booleans()):
                del headers["Content-Type"]
                tags.add("no_content_type")
            else:
                headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES))
        elif kind == "encoding":
            encoding, body, tag = draw(
                st.sampled_from(
                    [
                        ("gzip", body, "gzip_junk"),
                        ("deflate", body, "gzip_junk"),
                        ("gzip", gzip.compress(body), "gzip_ok"),
                        ("x-gzip", gzip.compress(body), "gzip_ok"),
                        ("deflate", zlib.compress(body), "gzip_ok"),
                        ("deflate", zlib.compress(body)[2:-4], "gzip_ok"),  # raw deflate, as many clients send it
                        ("gzip", gzip.compress(body)[:-6], "gzip_junk"),
                        ("gzip", gzip.compress(gzip.compress(body)), "gzip_junk"),
                        ("br", body, "unknown_encoding"),
                        ("gzip, deflate", gzip.compress(body), "unknown_encoding"),
                        (" GZIP ", gzip.compress(body), "gzip_ok"),
                        ("identity", body, "gzip_ok"),
                        ("gzip", GZIP_BOMB, "gzip_bomb"),
                    ]
                )
            )
            headers["Content-Encoding"] = encoding
            tags.add(tag)
        elif kind == "query":
            query = draw(st.sampled_from(QUERIES))
        elif kind == "raw_header":
            name, value = draw(st.sampled_from(RAW_HEADER_NAMES)), draw(st.sampled_from(RAW_HEADER_VALUES))
            prefix = b"Bearer " if name == "Authorization" else b""
            raw = (name.encode() + b": " + prefix + value,)
        else:
            header, value = draw(st.sampled_from(HEADER_CHOICES[kind]))
            headers[header] = value
    return body, headers, query, raw, tags


# --- routes and requests ---------------------------------------------------------------------------------------

ANTHROPIC_MODELS = ("mock/m", "anthropic/claude-x", "openai/gpt-x", "claude-x")  # bare: anthropic on these routes
OPENAI_MODELS = ("mock/m", "openai/gpt-x", "anthropic/claude-x")


@dataclass(frozen=True)
class Route:
    path: str
    dialect: Literal["anthropic", "openai"]
    kind: Literal["messages", "chat", "count", "native_async"]
    models: tuple[str, ...]


ROUTES = [
    Route("/anthropic/v1/messages", "anthropic", "messages", ANTHROPIC_MODELS),
    Route("/v1/messages", "anthropic", "messages", ANTHROPIC_MODELS),
    Route("/anthropic/v1/messages/count_tokens", "anthropic", "count", ANTHROPIC_MODELS),
    Route("/v1/chat/completions", "openai", "chat", OPENAI_MODELS),
    Route("/openai/v1/chat/completions", "openai", "chat", (*OPENAI_MODELS, "gpt-x")),  # bare: openai here
    Route("/v1/async/messages", "anthropic", "native_async", ANTHROPIC_MODELS),
    Route("/v1/async/chat/completions", "openai", "native_async", OPENAI_MODELS),
]


@st.composite
def cases(draw: st.DrawFn, route: Route) -> Case:
    base = draw(bodies(route))
    ascii_only = draw(st.booleans())
    tags: set[str] = {"stream"} if base.get("stream") is True else set()
    bucket = draw(st.integers(0, 99))
    value: object = base
    if bucket < 15:
        tags.add("valid")
    elif bucket < 62:
        value, mutation_tags = draw(mutated(copy.deepcopy(base)))
        tags |= mutation_tags
    elif bucket < 77:
        tags.add("nasty_model")
        if draw(st.integers(0, 4)) == 0:
            base["fallbacks"] = [draw(NASTY_MODELS)]
        else:
            base["model"] = draw(NASTY_MODELS)
    elif bucket < 84:
        value = draw(duplicate_keys(base, route))
        tags.add("dup_keys")
    body = encode(value, ascii_only)
    if bucket >= 84:
        body, kind = draw(not_json(body))
        tags |= {"not_json", kind}
    if draw(st.integers(0, 299)) == 0:
        body, _ = body + b" " * (MAX_BODY_MB * 1024 * 1024), tags.add("oversized")
    body, headers, query, raw, header_tags = draw(transport(body))
    return Case(body, tuple(headers.items()), query, raw, frozenset(tags | header_tags))


@dataclass
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


async def send(session: aiohttp.ClientSession, url: str, case: Case) -> Answer:
    """POST the case; an answer that is not a complete HTTP response fails the test."""
    if case.raw_headers:
        return await send_raw(url, case)
    headers = dict(case.headers)
    skip = () if "Content-Type" in headers else ("Content-Type",)
    try:
        async with session.post(url + case.query, data=case.body, headers=headers, skip_auto_headers=skip) as resp:
            return Answer(resp.status, resp.headers, await resp.read())
    except aiohttp.ClientError as exc:
        raise AssertionError(f"no complete HTTP response: {exc!r}") from None
    except TimeoutError:
        raise AssertionError(f"no answer within {REQUEST_TIMEOUT_S:g}s") from None


async def send_raw(url: str, case: Case) -> Answer:
    """One request written byte by byte on its own connection, and its answer parsed by hand."""
    host, port = url.removeprefix("http://").split("/", 1)[0].split(":")
    path = url.split(port, 1)[1] + case.query
    lines = [f"POST {path} HTTP/1.1".encode(), f"Host: {host}".encode(), b"Connection: close"]
    lines += [f"{k}: {v}".encode() for k, v in case.headers if k.lower() not in {"host", "connection"}]
    lines += [*case.raw_headers, f"Content-Length: {len(case.body)}".encode()]
    async with asyncio.timeout(REQUEST_TIMEOUT_S):
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + case.body)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"no complete HTTP response: {raw[:300]!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = CIMultiDict(line.split(": ", 1) for line in header_lines)
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = dechunk(body)
    else:
        assert len(body) == int(headers.get("Content-Length", len(body))), f"truncated answer: {raw[:300]!r}"
    return Answer(int(status_line.split(" ")[1]), CIMultiDictProxy(headers), body)


def dechunk(data: bytes) -> bytes:
    out = bytearray()
    while True:
        line, sep, data = data.partition(b"\r\n")
        assert sep, "truncated chunked answer"
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        assert len(data) >= size + 2, "truncated chunked answer"
        out += data[:size]
        data = data[size + 2 :]


# --- what a good answer is -------------------------------------------------------------------------------------


def check_answer(route: Route, answer: Answer) -> str:
    """The answer's kind ("error", "stream", "json", "job"); an AssertionError if it is not a good one."""
    head = f"{answer.status} {answer.body[:600]!r}"
    assert answer.status < 500, f"the gateway answered {head}"
    try:
        if answer.status >= 400:
            check_error(route.dialect, answer)
            return "error"
        if answer.headers.get("Content-Type", "").startswith("text/event-stream"):
            assert route.kind in ("messages", "chat")
            check_stream(route.dialect, answer.body)
            return "stream"
        body = json.loads(answer.body)
        if route.kind == "native_async":
            assert answer.status == 202 and isinstance(body["id"], str), body
            assert body["status"] in ("pending", "running", "completed", "failed"), body
            return "job"
        check_success(route, body)
        return "json"
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise AssertionError(f"malformed answer ({exc!r}): {head}") from None


def check_error(dialect: str, answer: Answer) -> None:
    check_error_body(dialect, json.loads(answer.body))
    assert ("request-id" if dialect == "anthropic" else "x-request-id") in answer.headers


def check_error_body(dialect: str, body: Any) -> None:
    error = body["error"]
    assert isinstance(error["message"], str) and isinstance(error["type"], str), body
    if dialect == "anthropic":
        assert body["type"] == "error", body


def check_success(route: Route, body: Any) -> None:
    if route.kind == "count":
        assert isinstance(body["input_tokens"], int) and body["input_tokens"] >= 0, body
    elif route.dialect == "anthropic":
        assert body["type"] == "message" and body["role"] == "assistant", body
        assert isinstance(body["content"], list) and isinstance(body["id"], str), body
    else:
        assert body["object"] == "chat.completion" and isinstance(body["choices"], list), body


def check_stream(dialect: str, raw: bytes) -> None:
    """Every frame decodes, no error event, and the stream ends with the dialect's terminal event."""
    events: list[tuple[str | None, str]] = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if lines:
            name = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
            events.append((name, "\n".join(line[5:].strip() for line in lines if line.startswith("data:"))))
    assert events, "an empty stream"
    for name, data in events[:-1]:
        payload = json.loads(data)
        assert isinstance(payload, dict) and name != "error" and "error" not in payload, data
    if dialect == "anthropic":
        assert events[-1][0] == "message_stop" and json.loads(events[-1][1])["type"] == "message_stop", events[-1]
    else:
        assert events[-1][1] == "[DONE]", events[-1]


def bad_records(records: list[logging.LogRecord]) -> list[str]:
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}" + (f" ({r.exc_info[1]!r})" if r.exc_info else "")
        for r in records
        if r.exc_info or r.levelno >= logging.ERROR
    ]


# --- the fake upstream: always a valid success -----------------------------------------------------------------

_STREAMING: ContextVar[bool] = ContextVar("_STREAMING", default=False)
STREAM = "#stream"  # defaults for stream requests are set under path + STREAM


class _StreamFlag(msgspec.Struct):
    stream: object = None


_FLAG = msgspec.json.Decoder(_StreamFlag)


class SuccessUpstream(FakeUpstream):
    """Answers JSON or SSE as the body's `stream` asks (read as the gateway reads it: msgspec, last key wins)."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            streaming = _FLAG.decode(await request.read()).stream is True
        except (msgspec.DecodeError, RecursionError):
            streaming = False
        _STREAMING.set(streaming)
        return await super()._handle(request)

    def _take(self, method: str, path: str) -> Reply:
        return super()._take(method, path + STREAM if _STREAMING.get() else path)


def _lenient_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, RecursionError):  # the fake's own parser must not fail on what it is sent
        return None


@pytest.fixture
async def upstream(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(fake_upstream_module, "_parse_json", _lenient_json)
    async with SuccessUpstream() as up:
        for path in ("/v1/messages", "/v1/chat/completions", "/v1/messages/count_tokens"):
            json_reply = {
                "/v1/messages": Reply.json(anthropic_message()),
                "/v1/chat/completions": Reply.json(openai_completion()),
                "/v1/messages/count_tokens": Reply.json({"input_tokens": 42}),
            }[path]
            up.default(path, json_reply)
        up.default("/v1/messages" + STREAM, Reply.sse(anthropic_sse()))
        up.default("/v1/chat/completions" + STREAM, Reply.sse(openai_sse()))
        up.default("/v1/messages/count_tokens" + STREAM, Reply.json({"input_tokens": 42}))
        yield up


# --- the test --------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    tags: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    jobs: list[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=list)


AUTH_HEADERS = {"authorization", "x-api-key", "x-bf-vk", "x-goog-api-key"}
MIN_TAGS = {
    "valid": 150,
    "mutated": 600,
    "wrong_type": 100,
    "unknown_field": 60,
    "dup_keys": 150,
    "deleted_field": 50,
    "deep": 40,
    "huge_number": 40,
    "negative_number": 40,
    "nan": 40,
    "bad_unicode": 40,
    "control_chars": 40,
    "long": 30,
    "nasty_model": 200,
    "not_json": 200,
    "truncated": 20,
    "noise": 20,
    "empty_body": 20,
    "non_object": 20,
    "garbage": 20,
    "odd_headers": 400,
    "no_content_type": 20,
    "gzip_junk": 15,
    "gzip_ok": 15,
    "async": 40,
    "async_id": 40,
    "version": 40,
    "auth": 40,
    "raw_header": 40,
    "stream": 400,
}
MUTATED_FIELDS = {"model", "messages", "max_tokens", "content", "role", "type", "text", "stream"}


@pytest.mark.parametrize("route", ROUTES, ids=[r.path for r in ROUTES])
async def test_fuzzed_requests_never_get_a_5xx_a_dropped_connection_or_a_traceback(
    route: Route, upstream: SuccessUpstream, make_gateway: MakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    gateway = await make_gateway(upstream_config(upstream.url, max_request_body_size_mb=MAX_BODY_MB))
    url = gateway.url + route.path
    loop = asyncio.get_running_loop()
    tally = Tally()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)

    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:

        async def one(case: Case) -> str:
            answer = await send(session, url, case)
            kind = check_answer(route, answer)
            if "x-bf-async-id" in answer.headers and answer.status < 300:
                auth = tuple((k, v) for k, v in case.headers if k.lower() in AUTH_HEADERS)
                tally.jobs.append((answer.headers["x-bf-async-id"], auth))
            tally.statuses[answer.status] += 1
            return kind

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            report_multiple_bugs=False,
            print_blob=False,
        )
        @given(case=cases(route))
        def fuzz(case: Case) -> None:
            logged = len(caplog.records)
            kind = asyncio.run_coroutine_threadsafe(one(case), loop).result(REQUEST_TIMEOUT_S + 5)
            assert not (bad := bad_records(caplog.records[logged:])), bad
            tally.tags.update(case.tags)
            tally.answers[kind] += 1

        await asyncio.to_thread(fuzz)
        await check_jobs(session, gateway.url, route, tally)

    print(f"\n{route.path}: answers {dict(tally.answers)} statuses {dict(sorted(tally.statuses.items()))}")
    print(f"{route.path}: tags {dict(sorted(tally.tags.items()))}")
    assert not (bad := bad_records(caplog.records)), bad
    assert sum(tally.answers.values()) == EXAMPLES
    short = {tag: (tally.tags[tag], least) for tag, least in MIN_TAGS.items() if tally.tags[tag] < least}
    assert not short, f"the generator made too few of: {short}"
    assert not (missing := {f for f in MUTATED_FIELDS if tally.tags[f"field:{f}"] < 5}), missing
    successes = tally.answers["json"] + tally.answers["stream"] + tally.answers["job"]
    assert successes >= EXAMPLES // 5 and tally.answers["error"] >= EXAMPLES // 3, tally.answers
    if route.kind in ("messages", "chat"):
        assert tally.answers["stream"] >= 100, tally.answers
    relayed = [r for r in upstream.requests if isinstance(r.json, dict) and "model" in r.json]
    assert len(relayed) >= 100, f"the upstream got only {len(relayed)} valid requests"


async def check_jobs(session: aiohttp.ClientSession, base: str, route: Route, tally: Tally) -> None:
    """Every accepted job finishes, and polls as a good answer: never a 5xx (the upstream always succeeds)."""
    native = route.kind == "native_async"
    synchronous: Literal["messages", "chat"] = "messages" if route.dialect == "anthropic" else "chat"
    if native or route.kind != "count":
        assert len(tally.jobs) >= (200 if native else 20), f"only {len(tally.jobs)} jobs accepted"
    async with asyncio.timeout(60):
        for job_id, auth in tally.jobs:
            while True:
                headers = {**dict(auth), "x-bf-async-id": job_id, "Content-Type": "application/json"}
                if native:
                    resp = await session.get(f"{base}{route.path}/{job_id}", headers=dict(auth))
                else:
                    resp = await session.post(base + route.path, data=b"{}", headers=headers)
                answer = Answer(resp.status, resp.headers, await resp.read())
                state = answer.headers.get("x-bf-async-status")
                if state not in ("pending", "running"):
                    break
                await asyncio.sleep(0.05)
            tally.answers[f"job_{state}"] += 1
            if not native:
                check_answer(route, answer)
                continue
            job = json.loads(answer.body)
            assert answer.status == 200 and job["status_code"] < 500, f"job {job_id}: {job}"
            if job["status"] == "completed":
                check_success(Route(route.path, route.dialect, synchronous, ()), job["result"])
            else:
                check_error_body(route.dialect, job["error"])
