"""Anthropic Messages wire types; they double as the canonical request, response and stream events.

Lenient by design: unknown fields are skipped when decoding (a same-dialect upstream still gets them, because the
provider relays the client's bytes), and optional fields default to UNSET, which msgspec never encodes. Content
blocks are one wide Struct rather than a tagged union, so block types we do not model (server tools, future
betas) still decode, and translators decide what to do with them.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType, field


class Wire(Struct, kw_only=True):
    """Base of lenient wire Structs: unknown fields are ignored; UNSET fields are omitted on output."""


class CacheControl(Wire, kw_only=True):
    type: str = "ephemeral"
    ttl: str | UnsetType = UNSET


class Source(Wire, kw_only=True):
    """Image or document source: base64, url, file, text or content."""

    type: str
    media_type: str | UnsetType = UNSET
    data: str | UnsetType = UNSET
    url: str | UnsetType = UNSET
    file_id: str | UnsetType = UNSET
    content: Raw | UnsetType = UNSET


class ContentBlock(Wire, kw_only=True):
    """Any content block (request or response). `type` says which fields apply."""

    type: str
    text: str | UnsetType = UNSET
    # image / document
    source: Source | str | UnsetType = UNSET  # a string on search_result blocks
    title: str | UnsetType | None = UNSET
    context: str | UnsetType | None = UNSET
    citations: Raw | UnsetType = UNSET
    # tool_use / server_tool_use / mcp_tool_use
    id: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    input: Raw | UnsetType = UNSET
    server_name: str | UnsetType = UNSET  # mcp_tool_use: the MCP server that ran the tool
    # tool_result (and server and MCP tool results)
    tool_use_id: str | UnsetType = UNSET
    content: str | list[ContentBlock] | ContentBlock | UnsetType = UNSET
    is_error: bool | UnsetType = UNSET
    # thinking / redacted_thinking
    thinking: str | UnsetType = UNSET
    signature: str | UnsetType = UNSET
    data: str | UnsetType = UNSET
    cache_control: CacheControl | UnsetType | None = UNSET


class MessageParam(Wire, kw_only=True):
    role: str
    content: str | list[ContentBlock]


class McpToolConfig(Wire, kw_only=True):
    """An `mcp_toolset`'s `default_config` or one of its `configs` (the MCP connector, beta 2025-11-20)."""

    enabled: bool | UnsetType = UNSET
    defer_loading: bool | UnsetType = UNSET


class Tool(Wire, kw_only=True, omit_defaults=True):
    """A custom tool (`input_schema`), a versioned server/client tool (`type` like `web_search_20250305`), or
    an `mcp_toolset` (which has no name: it names its server; the empty default is never encoded)."""

    name: str = ""
    type: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    input_schema: Raw | UnsetType = UNSET
    strict: bool | UnsetType = UNSET
    cache_control: CacheControl | UnsetType | None = UNSET
    # mcp_toolset
    mcp_server_name: str | UnsetType = UNSET
    default_config: McpToolConfig | UnsetType = UNSET
    configs: dict[str, McpToolConfig] | UnsetType | None = UNSET
    tools: Raw | UnsetType | None = UNSET  # the server's listing, pinned by the client


class McpToolConfiguration(Wire, kw_only=True):
    enabled: bool | UnsetType | None = UNSET
    allowed_tools: list[str] | UnsetType | None = UNSET


class McpServer(Wire, kw_only=True):
    """A `mcp_servers[]` entry (the MCP connector, betas mcp-client-2025-04-04 and -2025-11-20)."""

    type: str
    name: str
    url: str
    authorization_token: str | UnsetType | None = UNSET
    tool_configuration: McpToolConfiguration | UnsetType | None = UNSET


class ToolChoice(Wire, kw_only=True):
    type: str  # auto | any | tool | none
    name: str | UnsetType = UNSET
    disable_parallel_tool_use: bool | UnsetType = UNSET


class Thinking(Wire, kw_only=True):
    type: str  # enabled | disabled | adaptive | between_tools
    budget_tokens: int | UnsetType = UNSET
    display: str | UnsetType = UNSET


class OutputFormat(Wire, kw_only=True):
    type: str  # json_schema
    schema: Raw | UnsetType = UNSET


class OutputConfig(Wire, kw_only=True):
    effort: str | UnsetType = UNSET
    format: OutputFormat | UnsetType = UNSET


class Metadata(Wire, kw_only=True):
    user_id: str | UnsetType | None = UNSET


class MessagesRequest(Wire, kw_only=True):
    """POST /v1/messages body. `max_tokens` is required by the dialect; the decoder checks it."""

    model: str
    messages: list[MessageParam]
    max_tokens: int | UnsetType = UNSET
    system: str | list[ContentBlock] | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET
    stop_sequences: list[str] | UnsetType = UNSET
    stream: bool | UnsetType = UNSET
    temperature: float | UnsetType = UNSET
    top_p: float | UnsetType = UNSET
    top_k: int | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    thinking: Thinking | UnsetType = UNSET
    output_config: OutputConfig | UnsetType = UNSET
    output_format: OutputFormat | UnsetType = UNSET  # deprecated beta spelling of output_config.format
    service_tier: str | UnsetType = UNSET
    cache_control: CacheControl | UnsetType = UNSET
    fallbacks: list[str] | UnsetType = UNSET  # the gateway's: "provider/model" targets to try next
    mcp_servers: list[McpServer] | UnsetType = UNSET  # the MCP connector (plugins/mcp/connector)


class CountTokensRequest(Wire, kw_only=True):
    model: str
    messages: list[MessageParam]
    system: str | list[ContentBlock] | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    thinking: Thinking | UnsetType = UNSET
    output_config: OutputConfig | UnsetType = UNSET


class CacheCreation(Wire, kw_only=True):
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class Usage(Struct, kw_only=True):
    """Response usage. Always encoded whole: clients read every field as an int."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int | None = 0
    cache_read_input_tokens: int | None = 0
    service_tier: str | UnsetType = UNSET
    cache_creation: CacheCreation | UnsetType = UNSET


class Message(Struct, kw_only=True):
    """The Messages API response (non-streaming), also the `message` of `message_start`."""

    id: str
    model: str
    content: list[ContentBlock]
    stop_reason: str | None
    stop_sequence: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"


# --- streaming events (Anthropic SSE); tagged by "type" ---------------------------------------------------


class Delta(Wire, kw_only=True):
    """A content_block_delta payload: text_delta, input_json_delta, thinking_delta, signature_delta, citations_delta."""

    type: str
    text: str | UnsetType = UNSET
    partial_json: str | UnsetType = UNSET
    thinking: str | UnsetType = UNSET
    signature: str | UnsetType = UNSET
    citation: Raw | UnsetType = UNSET


class MessageDeltaBody(Struct, kw_only=True):
    stop_reason: str | None = None
    stop_sequence: str | None = None


class DeltaUsage(Wire, kw_only=True):
    """message_delta usage: cumulative; output_tokens is required, the rest only when known."""

    output_tokens: int = 0
    input_tokens: int | UnsetType | None = UNSET
    cache_creation_input_tokens: int | UnsetType | None = UNSET
    cache_read_input_tokens: int | UnsetType | None = UNSET


class ErrorBody(Struct, kw_only=True):
    type: str
    message: str


class MessageStart(Struct, tag="message_start", tag_field="type"):
    message: Message


class ContentBlockStart(Struct, tag="content_block_start", tag_field="type"):
    index: int
    content_block: ContentBlock


class ContentBlockDelta(Struct, tag="content_block_delta", tag_field="type"):
    index: int
    delta: Delta


class ContentBlockStop(Struct, tag="content_block_stop", tag_field="type"):
    index: int


class MessageDelta(Struct, tag="message_delta", tag_field="type"):
    delta: MessageDeltaBody
    usage: DeltaUsage = field(default_factory=DeltaUsage)


class MessageStop(Struct, tag="message_stop", tag_field="type"):
    pass


class Ping(Struct, tag="ping", tag_field="type"):
    pass


class StreamError(Struct, tag="error", tag_field="type"):
    error: ErrorBody


StreamEvent = (
    MessageStart
    | ContentBlockStart
    | ContentBlockDelta
    | ContentBlockStop
    | MessageDelta
    | MessageStop
    | Ping
    | StreamError
)
KNOWN_EVENTS = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    }
)


class ErrorResponse(Struct, kw_only=True):
    error: ErrorBody
    type: Literal["error"] = "error"
    request_id: str | UnsetType = UNSET


class CountTokensResponse(Struct):
    input_tokens: int


class ModelInfo(Struct, kw_only=True):
    id: str
    display_name: str
    created_at: str
    lifecycle: str = "active"
    type: Literal["model"] = "model"


class ModelList(Struct, kw_only=True):
    data: list[ModelInfo]
    has_more: bool
    first_id: str | None
    last_id: str | None


# Codecs are built once (msgspec perf tip: reuse encoders and typed decoders).
ENCODER = msgspec.json.Encoder()
REQUEST_DECODER = msgspec.json.Decoder(MessagesRequest)
COUNT_TOKENS_DECODER = msgspec.json.Decoder(CountTokensRequest)
MESSAGE_DECODER = msgspec.json.Decoder(Message)
EVENT_DECODER = msgspec.json.Decoder(StreamEvent)
ERROR_DECODER = msgspec.json.Decoder(ErrorResponse)
