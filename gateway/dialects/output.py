"""The structured output a request asks for, read off either dialect's body into one `StructuredOutput`.

Called by the dialects' `decode_call` before anything else reads the request, so a format that cannot be served
(no schema, an unknown type) is a 400 before any upstream call, a relayed body included: an upstream must not be
the one to find out, and a plugin that guarantees the output has nothing to validate against otherwise.
"""

from __future__ import annotations

from msgspec import Raw, UnsetType

from ..call import StructuredOutput
from ..errors import InvalidRequest
from ..schemas import anthropic as a
from ..schemas import openai as o

_NULL = b"null"


def anthropic_output(request: a.MessagesRequest) -> StructuredOutput | None:
    """`output_config.format`, else the beta `output_format` (the older spelling of the same field)."""
    config = request.output_config
    if not isinstance(config, UnsetType) and not isinstance(config.format, UnsetType):
        fmt, param = config.format, "output_config.format"
    elif not isinstance(request.output_format, UnsetType):
        fmt, param = request.output_format, "output_format"
    else:
        return None
    if fmt.type != "json_schema":
        raise InvalidRequest(
            f"{param}.type: unsupported format type {fmt.type!r} (expected json_schema)", param=f"{param}.type"
        )
    return StructuredOutput(kind="json_schema", schema=_schema(fmt.schema, param), param=param)


def openai_output(response_format: o.ResponseFormat | UnsetType) -> StructuredOutput | None:
    """`response_format`: json_schema (with its name and strict flag) or json_object; `text` asks for nothing."""
    if isinstance(response_format, UnsetType) or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return StructuredOutput(kind="json_object", param="response_format")
    if response_format.type != "json_schema":
        raise InvalidRequest(
            f"response_format.type: unsupported type {response_format.type!r}"
            " (expected text, json_object or json_schema)",
            param="response_format.type",
        )
    param = "response_format.json_schema"
    spec = response_format.json_schema
    if isinstance(spec, UnsetType):
        raise InvalidRequest(f"{param}.schema: a json_schema format needs a schema", param=f"{param}.schema")
    strict = spec.strict if isinstance(spec.strict, bool) else None
    return StructuredOutput(
        kind="json_schema", schema=_schema(spec.schema, param), name=spec.name, strict=strict, param=param
    )


def _schema(schema: Raw | UnsetType, param: str) -> Raw:
    if isinstance(schema, UnsetType) or (len(schema) == len(_NULL) and bytes(schema) == _NULL):
        raise InvalidRequest(f"{param}.schema: a json_schema format needs a schema", param=f"{param}.schema")
    return schema
