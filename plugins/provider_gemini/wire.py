"""Gemini `generateContent` wire types (Google AI Developer API, v1beta), camelCase on the wire.

Lenient like every wire Struct here: unknown fields are skipped when decoding (Google adds fields often:
safetyRatings, groundingMetadata, ...), optional fields default to UNSET and are never encoded. Free-form JSON
(function arguments, function responses, schemas) stays `Raw`, so it passes through without a round trip.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType, field


class Wire(Struct, kw_only=True, rename="camel"):
    """Base of Gemini wire Structs: snake_case in Python, camelCase in JSON."""


# --- content ------------------------------------------------------------------------------------------------


class Blob(Wire, kw_only=True):
    mime_type: str
    data: str  # base64


class FileData(Wire, kw_only=True):
    file_uri: str
    mime_type: str | UnsetType = UNSET


class FunctionCall(Wire, kw_only=True):
    name: str = ""
    args: Raw | UnsetType = UNSET  # a JSON object; absent for functions without parameters


class FunctionResponse(Wire, kw_only=True):
    name: str
    response: Raw  # a JSON object: {"output": ...} or {"error": ...}


class Part(Wire, kw_only=True):
    """One part; exactly one of the data fields is set (thought parts are text with `thought: true`)."""

    text: str | UnsetType = UNSET
    thought: bool | UnsetType = UNSET
    thought_signature: str | UnsetType = UNSET  # base64, may ride on any part (text, functionCall, thought)
    inline_data: Blob | UnsetType = UNSET
    file_data: FileData | UnsetType = UNSET
    function_call: FunctionCall | UnsetType = UNSET
    function_response: FunctionResponse | UnsetType = UNSET


class Content(Wire, kw_only=True):
    role: str | UnsetType = UNSET  # user | model; absent on systemInstruction
    parts: list[Part] = field(default_factory=list)  # absent on empty candidates (e.g. SAFETY)


# --- request ------------------------------------------------------------------------------------------------


class FunctionDeclaration(Wire, kw_only=True):
    name: str
    description: str | UnsetType = UNSET
    parameters: Raw | UnsetType = UNSET  # Gemini's OpenAPI-subset Schema, see schema.py


class Tool(Wire, kw_only=True):
    function_declarations: list[FunctionDeclaration]


class FunctionCallingConfig(Wire, kw_only=True):
    mode: str  # AUTO | ANY | NONE
    allowed_function_names: list[str] | UnsetType = UNSET


class ToolConfig(Wire, kw_only=True):
    function_calling_config: FunctionCallingConfig


class ThinkingConfig(Wire, kw_only=True):
    thinking_budget: int | UnsetType = UNSET  # -1: dynamic
    include_thoughts: bool | UnsetType = UNSET


class GenerationConfig(Wire, kw_only=True):
    max_output_tokens: int | UnsetType = UNSET
    temperature: float | UnsetType = UNSET
    top_p: float | UnsetType = UNSET
    top_k: int | UnsetType = UNSET
    stop_sequences: list[str] | UnsetType = UNSET
    response_mime_type: str | UnsetType = UNSET
    response_schema: Raw | UnsetType = UNSET  # OpenAPI subset (what models before 2.5 take)
    response_json_schema: Raw | UnsetType = UNSET  # JSON Schema as it is (2.5 and later)
    thinking_config: ThinkingConfig | UnsetType = UNSET


class GenerateContentRequest(Wire, kw_only=True):
    contents: list[Content]
    model: str | UnsetType = UNSET  # only inside countTokens ("models/<name>")
    system_instruction: Content | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_config: ToolConfig | UnsetType = UNSET
    generation_config: GenerationConfig | UnsetType = UNSET


class CountTokensRequest(Wire, kw_only=True):
    generate_content_request: GenerateContentRequest


# --- response -----------------------------------------------------------------------------------------------


class Candidate(Wire, kw_only=True):
    content: Content | UnsetType = UNSET
    finish_reason: str | UnsetType = UNSET


class PromptFeedback(Wire, kw_only=True):
    block_reason: str | UnsetType = UNSET


class UsageMetadata(Wire, kw_only=True):
    prompt_token_count: int = 0  # includes cached tokens
    candidates_token_count: int = 0  # excludes thoughts
    cached_content_token_count: int = 0
    thoughts_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    total_token_count: int = 0


class ErrorDetail(Wire, kw_only=True):
    """google.rpc details we read: ErrorInfo (reason) and RetryInfo (retryDelay, a Duration like "37s")."""

    type: str = field(default="", name="@type")
    reason: str | UnsetType = UNSET
    retry_delay: str | UnsetType = UNSET


class ErrorStatus(Wire, kw_only=True):
    code: int = 0
    message: str = ""
    status: str = ""
    details: list[ErrorDetail] = field(default_factory=list)


class GenerateContentResponse(Wire, kw_only=True):
    candidates: list[Candidate] = field(default_factory=list)
    prompt_feedback: PromptFeedback | UnsetType = UNSET
    usage_metadata: UsageMetadata | UnsetType = UNSET
    response_id: str | UnsetType = UNSET
    model_version: str | UnsetType = UNSET
    error: ErrorStatus | UnsetType = UNSET  # a stream may end with an error chunk


class CountTokensResponse(Wire, kw_only=True):
    total_tokens: int = 0


class ErrorResponse(Wire, kw_only=True):
    error: ErrorStatus


# Codecs are built once (msgspec perf tip).
ENCODER = msgspec.json.Encoder()
RESPONSE_DECODER = msgspec.json.Decoder(GenerateContentResponse)
COUNT_TOKENS_DECODER = msgspec.json.Decoder(CountTokensResponse)
# Google sends `{"error": ...}`, and `[{"error": ...}]` on some streaming endpoints.
ERROR_DECODER: msgspec.json.Decoder[ErrorResponse | list[ErrorResponse]] = msgspec.json.Decoder(
    ErrorResponse | list[ErrorResponse]
)
