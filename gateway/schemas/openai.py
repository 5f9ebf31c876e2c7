"""OpenAI Chat Completions wire types (lenient, UNSET-omitting), with codecs built once."""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType


class Wire(Struct, kw_only=True):
    """Base of lenient wire Structs: unknown fields are ignored; UNSET fields are omitted on output."""


class ImageUrl(Wire, kw_only=True):
    url: str
    detail: str | UnsetType = UNSET


class InputAudio(Wire, kw_only=True):
    data: str
    format: str


class FilePart(Wire, kw_only=True):
    file_data: str | UnsetType = UNSET
    file_id: str | UnsetType = UNSET
    filename: str | UnsetType = UNSET


class CacheControl(Wire, kw_only=True):
    """A prompt-cache marker in Anthropic's shape, as OpenRouter- and LiteLLM-style clients send it on content
    parts, messages and tools (not OpenAI's own field: the gateway carries it to providers that honour it)."""

    type: str = "ephemeral"
    ttl: str | UnsetType = UNSET


class ContentPart(Wire, kw_only=True):
    """text | image_url | input_audio | file | refusal."""

    type: str
    text: str | UnsetType = UNSET
    image_url: ImageUrl | UnsetType = UNSET
    input_audio: InputAudio | UnsetType = UNSET
    file: FilePart | UnsetType = UNSET
    refusal: str | UnsetType = UNSET
    cache_control: CacheControl | UnsetType | None = UNSET


class FunctionCall(Wire, kw_only=True):
    name: str | UnsetType = UNSET
    arguments: str | UnsetType = UNSET


class ToolCall(Wire, kw_only=True):
    id: str
    function: FunctionCall
    type: str = "function"


class ChatMessage(Wire, kw_only=True):
    """A request message of any role: system, developer, user, assistant, tool (legacy function too)."""

    role: str
    content: str | list[ContentPart] | UnsetType | None = UNSET
    name: str | UnsetType = UNSET
    tool_calls: list[ToolCall] | UnsetType | None = UNSET
    tool_call_id: str | UnsetType = UNSET
    refusal: str | UnsetType | None = UNSET
    reasoning_content: str | UnsetType | None = UNSET
    cache_control: CacheControl | UnsetType | None = UNSET  # LiteLLM's spelling: on the message's last block


class FunctionDef(Wire, kw_only=True):
    name: str
    description: str | UnsetType = UNSET
    parameters: Raw | UnsetType = UNSET
    strict: bool | UnsetType | None = UNSET


class ToolDef(Wire, kw_only=True):
    type: str = "function"
    function: FunctionDef | UnsetType = UNSET
    cache_control: CacheControl | UnsetType | None = UNSET


class NamedFunction(Wire, kw_only=True):
    name: str


class AllowedTools(Wire, kw_only=True):
    mode: str
    tools: list[Raw]


class ToolChoiceObject(Wire, kw_only=True):
    type: str  # function | allowed_tools
    function: NamedFunction | UnsetType = UNSET
    allowed_tools: AllowedTools | UnsetType = UNSET


class JsonSchemaFormat(Wire, kw_only=True):
    name: str
    schema: Raw | UnsetType = UNSET
    description: str | UnsetType = UNSET
    strict: bool | UnsetType | None = UNSET


class ResponseFormat(Wire, kw_only=True):
    type: str  # text | json_object | json_schema
    json_schema: JsonSchemaFormat | UnsetType = UNSET


class StreamOptions(Wire, kw_only=True):
    include_usage: bool | UnsetType = UNSET
    include_obfuscation: bool | UnsetType = UNSET


class ChatRequest(Wire, kw_only=True):
    """POST /v1/chat/completions body (the fields the gateway reads or translates)."""

    model: str
    messages: list[ChatMessage]
    max_completion_tokens: int | UnsetType | None = UNSET
    max_tokens: int | UnsetType | None = UNSET
    temperature: float | UnsetType | None = UNSET
    top_p: float | UnsetType | None = UNSET
    top_k: int | UnsetType | None = UNSET  # not OpenAI's, but compatible servers accept it
    n: int | UnsetType | None = UNSET
    stop: str | list[str] | UnsetType | None = UNSET
    stream: bool | UnsetType | None = UNSET
    stream_options: StreamOptions | UnsetType | None = UNSET
    tools: list[ToolDef] | UnsetType = UNSET
    tool_choice: str | ToolChoiceObject | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET
    response_format: ResponseFormat | UnsetType = UNSET
    reasoning_effort: str | UnsetType | None = UNSET
    user: str | UnsetType = UNSET
    safety_identifier: str | UnsetType = UNSET
    service_tier: str | UnsetType | None = UNSET
    metadata: Raw | UnsetType = UNSET
    fallbacks: list[str] | UnsetType = UNSET  # the gateway's: "provider/model" targets to try next


class PromptTokensDetails(Wire, kw_only=True):
    cached_tokens: int | UnsetType | None = UNSET
    cache_write_tokens: int | UnsetType | None = UNSET
    audio_tokens: int | UnsetType | None = UNSET


class CompletionTokensDetails(Wire, kw_only=True):
    reasoning_tokens: int | UnsetType | None = UNSET


class CompletionUsage(Wire, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | UnsetType | None = UNSET
    completion_tokens_details: CompletionTokensDetails | UnsetType | None = UNSET


class ResponseMessage(Wire, kw_only=True):
    role: str = "assistant"
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | UnsetType = UNSET
    reasoning_content: str | UnsetType | None = UNSET
    reasoning: str | UnsetType | None = UNSET  # OpenRouter spelling


class Choice(Wire, kw_only=True):
    index: int = 0
    message: ResponseMessage
    finish_reason: str | None = None
    logprobs: Raw | None = None


class ChatCompletion(Wire, kw_only=True):
    id: str
    created: int
    model: str
    choices: list[Choice]
    object: str = "chat.completion"
    usage: CompletionUsage | UnsetType | None = UNSET
    system_fingerprint: str | UnsetType | None = UNSET
    service_tier: str | UnsetType | None = UNSET


class ToolCallDelta(Wire, kw_only=True):
    index: int | UnsetType = UNSET  # some compatible servers leave it out
    id: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    function: FunctionCall | UnsetType = UNSET


class ChoiceDelta(Wire, kw_only=True):
    role: str | UnsetType = UNSET
    content: str | UnsetType | None = UNSET
    refusal: str | UnsetType | None = UNSET
    tool_calls: list[ToolCallDelta] | UnsetType | None = UNSET
    reasoning_content: str | UnsetType | None = UNSET
    reasoning: str | UnsetType | None = UNSET


class ChunkChoice(Wire, kw_only=True):
    delta: ChoiceDelta
    index: int = 0
    finish_reason: str | None = None


class ChatCompletionChunk(Wire, kw_only=True):
    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    object: str = "chat.completion.chunk"
    usage: CompletionUsage | UnsetType | None = UNSET
    system_fingerprint: str | UnsetType | None = UNSET


class ErrorObject(Struct, kw_only=True):
    message: str
    type: str
    param: str | None = None
    code: str | int | None = None


class ErrorResponse(Struct, kw_only=True):
    error: ErrorObject


class StreamErrorPayload(Wire, kw_only=True):
    """A mid-stream `data: {"error": ...}` frame from an OpenAI-compatible server (fields are loose there)."""

    error: Raw


class Model(Struct, kw_only=True):
    id: str
    created: int
    owned_by: str
    object: Literal["model"] = "model"
    # The gateway's additions from the model catalog (the SDK keeps extra fields; LiteLLM's names).
    context_window: int | UnsetType = UNSET
    max_input_tokens: int | UnsetType = UNSET
    max_output_tokens: int | UnsetType = UNSET


class ModelList(Struct, kw_only=True):
    data: list[Model]
    object: Literal["list"] = "list"
    next_page_token: str | UnsetType = UNSET  # Bifrost's paging (`page_size`, `page_token`), when asked for


ENCODER = msgspec.json.Encoder()
REQUEST_DECODER = msgspec.json.Decoder(ChatRequest)
COMPLETION_DECODER = msgspec.json.Decoder(ChatCompletion)
CHUNK_DECODER = msgspec.json.Decoder(ChatCompletionChunk)
ERROR_DECODER = msgspec.json.Decoder(ErrorResponse)
