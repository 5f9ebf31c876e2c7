"""Strict tools (`strict: true` on a client's tool): every call of one in an answer must have an input that
validates against the tool's `input_schema`, the same contract as a structured answer. Anthropic and OpenAI hold
their models to it themselves; other providers (and self-hosted servers) may not, so the gateway checks it for all.

An invalid input is repaired the way models are trained to retry a call: the turn goes back with each invalid
call's result marked as an error carrying the validator's message (and the turn's other calls marked as not run),
and the model calls again.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from msgspec.structs import replace

from gateway.api import anthropic as a

from .checks import compiled_or_400
from .schema import CompiledSchema

NOT_RUN = "Not run: another tool call of this turn had an invalid input; call the tools again."
INVALID = "The input does not match the tool's input_schema: {error}. Call {name} again with a corrected input."


@dataclass(frozen=True, slots=True)
class StrictTools:
    """The client's strict tools by name, their schemas compiled (a bad one is a 400 naming its path)."""

    schemas: dict[str, CompiledSchema]

    @classmethod
    def of(cls, request: a.MessagesRequest) -> StrictTools | None:
        tools = request.tools if isinstance(request.tools, list) else []
        schemas = {}
        for i, tool in enumerate(tools):
            if tool.strict is not True:
                continue
            raw = tool.input_schema if isinstance(tool.input_schema, msgspec.Raw) else msgspec.Raw(b"{}")
            schemas[tool.name] = compiled_or_400(raw, f"tools[{i}].input_schema")[1]
        return cls(schemas) if schemas else None

    def problems(self, message: a.Message) -> dict[str, str]:
        """The invalid strict calls of an answer: tool_use id -> what is wrong (named by tool and path)."""
        found = {}
        for block in message.content:
            schema = self.schemas.get(block.name) if block.type == "tool_use" and isinstance(block.name, str) else None
            if schema is None or not isinstance(block.id, str):
                continue
            raw = block.input if isinstance(block.input, msgspec.Raw) else msgspec.Raw(b"{}")
            invalid = schema.validate_text(bytes(raw))
            if invalid is not None:
                found[block.id] = f"tool {block.name!r} input {invalid.describe()}"
        return found


def repair_request(request: a.MessagesRequest, message: a.Message, problems: dict[str, str]) -> a.MessagesRequest:
    """The conversation plus the answer's turn and a turn of results: the validator's message for each invalid
    call, `NOT_RUN` for the others (every tool_use needs its result)."""
    calls = [block for block in message.content if block.type == "tool_use" and isinstance(block.id, str)]
    results = []
    for call in calls:
        assert isinstance(call.id, str)
        problem = problems.get(call.id)
        text = INVALID.format(error=problem, name=call.name) if problem is not None else NOT_RUN
        results.append(a.ContentBlock(type="tool_result", tool_use_id=call.id, is_error=True, content=text))
    kept = [block for block in message.content if block.type in ("text", "tool_use") and _has_content(block)]
    turns = [a.MessageParam(role="assistant", content=kept), a.MessageParam(role="user", content=results)]
    return replace(request, messages=[*request.messages, *turns])


def _has_content(block: a.ContentBlock) -> bool:
    return block.type != "text" or bool(block.text)
