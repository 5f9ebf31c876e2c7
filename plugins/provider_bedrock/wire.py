"""Bedrock Converse / ConverseStream wire types (shapes of botocore's bedrock-runtime 2023-09-30 model).

Python names are snake_case and `rename="camel"` gives the wire's camelCase. Lenient like every wire Struct here:
unknown fields are skipped when decoding, UNSET fields are never encoded. A Converse content block is a union
keyed by its one member (`{"text": ...}`, `{"toolUse": ...}`); one wide Struct models it, as for Anthropic.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType, field


class Wire(Struct, kw_only=True, rename="camel"):
    """Base of the Converse wire Structs."""


class Empty(Wire):
    """`{}`: the value of `toolChoice.auto` and `toolChoice.any`."""


class Source(Wire):
    """Image or document source. `bytes` is a blob: base64 text in JSON."""

    data: str | UnsetType = field(default=UNSET, name="bytes")


class Image(Wire):
    format: str
    source: Source


class Document(Wire):
    format: str
    name: str
    source: Source
    context: str | UnsetType = UNSET


class ToolUse(Wire):
    tool_use_id: str
    name: str
    input: Raw = field(default_factory=lambda: Raw(b"{}"))


class ToolResult(Wire):
    tool_use_id: str
    content: list[Block]
    status: str | UnsetType = UNSET  # success | error


class ReasoningText(Wire):
    text: str
    signature: str | UnsetType = UNSET


class Reasoning(Wire):
    reasoning_text: ReasoningText | UnsetType = UNSET
    redacted_content: str | UnsetType = UNSET  # a blob: base64 text


class CachePoint(Wire):
    type: str = "default"
    ttl: str | UnsetType = UNSET  # 5m | 1h


class Block(Wire):
    """Any content block of a message, of the system prompt or of a tool result; exactly one member is set."""

    text: str | UnsetType = UNSET
    image: Image | UnsetType = UNSET
    document: Document | UnsetType = UNSET
    tool_use: ToolUse | UnsetType = UNSET
    tool_result: ToolResult | UnsetType = UNSET
    reasoning_content: Reasoning | UnsetType = UNSET
    cache_point: CachePoint | UnsetType = UNSET
    json: Raw | UnsetType = UNSET  # tool result content only


class Message(Wire):
    role: str
    content: list[Block]


class InferenceConfig(Wire):
    max_tokens: int | UnsetType = UNSET
    temperature: float | UnsetType = UNSET
    top_p: float | UnsetType = UNSET
    stop_sequences: list[str] | UnsetType = UNSET


class InputSchema(Wire):
    json: Raw


class ToolSpec(Wire):
    name: str
    input_schema: InputSchema
    description: str | UnsetType = UNSET
    strict: bool | UnsetType = UNSET


class Tool(Wire):
    tool_spec: ToolSpec | UnsetType = UNSET
    cache_point: CachePoint | UnsetType = UNSET


class SpecificTool(Wire):
    name: str


class ToolChoice(Wire):
    auto: Empty | UnsetType = UNSET
    any: Empty | UnsetType = UNSET
    tool: SpecificTool | UnsetType = UNSET


class ToolConfig(Wire):
    tools: list[Tool]
    tool_choice: ToolChoice | UnsetType = UNSET


class JsonSchema(Wire):
    schema: str  # the schema as JSON text, not an object
    name: str | UnsetType = UNSET


class OutputStructure(Wire):
    json_schema: JsonSchema


class OutputFormat(Wire):
    structure: OutputStructure
    type: str = "json_schema"


class OutputConfig(Wire):
    text_format: OutputFormat | UnsetType = UNSET
    effort: str | UnsetType = UNSET


class ConverseRequest(Wire):
    """POST /model/{modelId}/converse (and converse-stream) body; the model is in the path."""

    messages: list[Message]
    system: list[Block] | UnsetType = UNSET
    inference_config: InferenceConfig | UnsetType = UNSET
    tool_config: ToolConfig | UnsetType = UNSET
    additional_model_request_fields: dict[str, Raw] | UnsetType = UNSET
    additional_model_response_field_paths: list[str] | UnsetType = UNSET
    output_config: OutputConfig | UnsetType = UNSET


class TokenUsage(Wire):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0


class Output(Wire):
    message: Message | None = None


class ConverseResponse(Wire):
    output: Output
    stop_reason: str = "end_turn"
    usage: TokenUsage = field(default_factory=TokenUsage)
    additional_model_response_fields: dict[str, Raw] | None = None


# --- ConverseStream events: the payload of each event-stream message, by its `:event-type` -------------------


class ToolUseStart(Wire):
    tool_use_id: str
    name: str


class BlockStartBody(Wire):
    tool_use: ToolUseStart | UnsetType = UNSET


class BlockStart(Wire):
    content_block_index: int
    start: BlockStartBody = field(default_factory=BlockStartBody)


class ToolUseDelta(Wire):
    input: str = ""


class ReasoningDelta(Wire):
    text: str | UnsetType = UNSET
    signature: str | UnsetType = UNSET
    redacted_content: str | UnsetType = UNSET


class DeltaBody(Wire):
    text: str | UnsetType = UNSET
    tool_use: ToolUseDelta | UnsetType = UNSET
    reasoning_content: ReasoningDelta | UnsetType = UNSET


class BlockDelta(Wire):
    content_block_index: int
    delta: DeltaBody


class BlockStop(Wire):
    content_block_index: int


class MessageStop(Wire):
    stop_reason: str = "end_turn"
    additional_model_response_fields: dict[str, Raw] | None = None


class Metadata(Wire):
    usage: TokenUsage | None = None


class ErrorPayload(Struct, kw_only=True):
    """`{"message": ...}` of an exception; some AWS front ends spell it `Message`."""

    message: str | None = None
    message_upper: str | None = field(default=None, name="Message")


# Codecs are built once (immutable, so module level is fine).
ENCODER = msgspec.json.Encoder()
RESPONSE_DECODER = msgspec.json.Decoder(ConverseResponse)
ERROR_DECODER = msgspec.json.Decoder(ErrorPayload)
BLOCK_START_DECODER = msgspec.json.Decoder(BlockStart)
BLOCK_DELTA_DECODER = msgspec.json.Decoder(BlockDelta)
BLOCK_STOP_DECODER = msgspec.json.Decoder(BlockStop)
MESSAGE_STOP_DECODER = msgspec.json.Decoder(MessageStop)
METADATA_DECODER = msgspec.json.Decoder(Metadata)
