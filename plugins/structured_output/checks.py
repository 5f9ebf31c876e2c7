"""What an answer is checked against: the client's schema (compiled once, a bad one a 400 naming its path), or for
`json_object` only that the answer is JSON; and the answer's text, the way each mode leaves it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.api import InvalidRequest, StructuredOutput
from gateway.api import anthropic as a

from .prompting import strip_fences
from .schema import CACHE_SIZE, CompiledSchema, Invalid, SchemaError, compile_schema, parse_json
from .strict import drop_added_nulls


def compiled_or_400(raw: msgspec.Raw, param: str) -> tuple[object, CompiledSchema]:
    """A client's schema (at `param` in its request), decoded and compiled; a 400 naming where it is wrong."""
    decoded = _decoded(bytes(raw))
    if decoded is None:
        raise InvalidRequest(f"{param}: the schema is not JSON this gateway can read", param=param)
    schema, compiled = decoded
    if not isinstance(compiled, CompiledSchema):
        where = f"{param}.{compiled.path}" if compiled.path else param
        raise InvalidRequest(f"{where}: {compiled.message}", param=where)
    return schema, compiled


@functools.lru_cache(maxsize=CACHE_SIZE)
def _decoded(raw: bytes) -> tuple[object, CompiledSchema | SchemaError] | None:
    """A schema's bytes decoded and compiled, remembered by the bytes as sent: a client that sends the same schema
    on every request (an SDK's parse helper does) pays one hash of it, not a decode and a canonical encoding. The
    decoded schema is shared: it is only read (the strict adapter copies)."""
    try:
        schema = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    return schema, compile_schema(schema)


@dataclass(frozen=True, slots=True)
class Checker:
    """The client's contract, ready to check answers: `compiled` is None for `json_object`."""

    output: StructuredOutput
    compiled: CompiledSchema | None
    schema: Any = None  # the decoded schema (for the OpenAI strict adapter), None for json_object

    @classmethod
    def of(cls, output: StructuredOutput) -> Checker:
        """Compile the client's schema; a schema that does not compile is a 400 naming where, before any call."""
        if output.kind == "json_object" or output.schema is None:
            return cls(output, None)
        schema, compiled = compiled_or_400(output.schema, f"{output.param}.schema")
        return cls(output, compiled, schema)

    def check(self, text: str, adapted: bool = False) -> Invalid | None:
        """None when `text` answers the contract. `adapted`: the upstream was sent the OpenAI strict form of the
        schema, whose added nulls are dropped before the client's own schema judges the answer."""
        if self.compiled is None:
            parsed = parse_json(text)
            return parsed if isinstance(parsed, Invalid) else None
        if not adapted:
            return self.compiled.validate_text(text)
        parsed = parse_json(text)
        if isinstance(parsed, Invalid):
            return parsed
        return self.compiled.validate(drop_added_nulls(self.schema, parsed.value))

    def normalized(self, text: str, adapted: bool) -> str:
        """The answer's text as the client gets it: with an adapted schema, the added nulls left out."""
        if not adapted or self.compiled is None:
            return text
        value = drop_added_nulls(self.schema, msgspec.json.decode(text))
        return msgspec.json.encode(value).decode()

    def failure_message(self, problem: str, attempts: int) -> str:
        """The 502's message: what failed, where in the answer and in the schema, after how many answers."""
        tries = "1 answer" if attempts == 1 else f"{attempts} answers"
        what = "JSON schema" if self.compiled is not None else "JSON"
        return f"the model's answer did not match the requested {what} ({tries}): {problem}"


def answer_text(message: a.Message, fenced: bool) -> str:
    """The text an answer's JSON is read from: its text blocks, joined; `fenced` (prompt mode, or a tool-mode
    model that answered in text) strips a Markdown code fence around it."""
    text = "".join(block.text for block in message.content if block.type == "text" and isinstance(block.text, str))
    return strip_fences(text) if fenced else text
