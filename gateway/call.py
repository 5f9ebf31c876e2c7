"""The canonical call, result and stream chunk that travel through the pipeline (Anthropic semantics).

Raw bytes ride along with the typed values so that a provider of the client's own dialect can relay them
untouched (ARCHITECTURE decision 2). The stage facade drops the bytes as soon as a plugin replaces the typed
value they were decoded from, so a relayed body never disagrees with what the plugins decided.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Raw, Struct
from msgspec.structs import replace

from .errors import GatewayError
from .schemas.anthropic import Message, MessagesRequest, StreamEvent

Dialect = Literal["anthropic", "openai"]


class Target(Struct, frozen=True):
    """One place a call can be served: a configured provider and the model name it knows."""

    provider: str
    model: str


class RoutePlan(Struct, frozen=True):
    """Targets in the order to try them: the primary first, then fallbacks."""

    targets: tuple[Target, ...]


class NativeBody(Struct, frozen=True):
    """A JSON body exactly as received, with the dialect it is written in."""

    dialect: Dialect
    body: bytes


class StructuredOutput(Struct, frozen=True, kw_only=True):
    """The structured output the client asked for, in one place whatever the dialect: Anthropic
    `output_config.format` (else the beta `output_format`) or OpenAI `response_format`.

    It is the client's contract, set by the dialect's decode and never rewritten: a plugin that changes how the
    output is obtained upstream changes `request.output_config` (what goes upstream), and validates the answer
    against this. Strict tools need no field of their own: they are `request.tools[i].strict`.
    """

    kind: Literal["json_schema", "json_object"]
    schema: Raw | None = None  # the client's JSON Schema, its bytes as sent (None for json_object)
    name: str | None = None  # OpenAI `json_schema.name` (a native OpenAI upstream wants one)
    strict: bool | None = None  # OpenAI `json_schema.strict` as sent (None: not sent)
    # Where it came from, for errors: the schema is at f"{param}.schema". "output_config.format",
    # "output_format", "response_format.json_schema" or (json_object) "response_format".
    param: str = "output_config.format"


class ChatCall(Struct, frozen=True, kw_only=True):
    """One inference request. Frozen: change it with `msgspec.structs.replace`."""

    dialect: Dialect  # the client's dialect
    stream: bool
    request: MessagesRequest  # canonical request; max_tokens is always set
    native: NativeBody | None = None  # the client's body, relayed to a provider of the same dialect
    include_usage: bool = False  # OpenAI clients: stream_options.include_usage
    target: Target | None = None  # set for each attempt, before gw_transform_request
    extra_headers: tuple[tuple[str, str], ...] = ()  # client headers a same-dialect upstream should get
    # Why the client's body has no canonical form (e.g. OpenAI `n: 2`). Only a provider of the client's own
    # dialect can serve such a call, from `native`; any other raises this error.
    translation_error: GatewayError | None = None
    # Set by the engine when a stream's chunks are only relayed (the provider speaks the client's dialect and
    # no plugin transforms chunks): the provider may then decode just the events that carry usage.
    relay_stream: bool = False
    # The client set no output cap (OpenAI clients may not): request.max_tokens holds client.default_max_tokens,
    # which Anthropic needs; providers with no such need leave the cap out.
    max_tokens_defaulted: bool = False
    fallbacks: tuple[str, ...] | None = None  # the body's `fallbacks` (taken out of it); None: it had none
    # Sent upstream as `Idempotency-Key` by the Anthropic and OpenAI-wire providers: an async job's id, the same
    # for every run of the job, so an upstream that honours the header runs a job the crash re-runs once. (A
    # client's own key is not forwarded: tenants share the upstream account its keys are scoped to.)
    idempotency_key: str | None = None
    output: StructuredOutput | None = None  # the structured output the client asked for, if any
    # Headers every HTTP request of this attempt to its provider carries, whatever the provider and its wire
    # (retries included): set by a plugin in gw_transform_request, e.g. a W3C `traceparent` (plugin `otel`).
    # Provider keys and the provider's own headers win over a name set here.
    upstream_headers: tuple[tuple[str, str], ...] = ()

    @property
    def model(self) -> str:
        """The model string as the client sent it (or as a plugin rewrote it): routing reads it, each attempt's
        `target.model` is what goes upstream. One string, kept in the request, so the two cannot disagree."""
        return self.request.model


class ChatResult(Struct, frozen=True, kw_only=True):
    """A complete (non-streaming) answer."""

    message: Message
    native: NativeBody | None = None  # the provider's body, relayed to a client of the same dialect
    headers: tuple[tuple[str, str], ...] = ()  # upstream response headers worth relaying (request-id, ...)


class Chunk(Struct, frozen=True):
    """What one upstream read means, as canonical events, plus its bytes for relaying.

    Under `ChatCall.relay_stream` only the usage-bearing events (message_start, message_delta, message_stop)
    are decoded: nothing else reads them.
    """

    events: tuple[StreamEvent, ...]
    frame: bytes | None = None
    frame_dialect: Dialect | None = None


def with_model(call: ChatCall, model: str) -> ChatCall:
    """The call for another model string (what routing reads), its native body dropped (it names the old one)."""
    return replace(call, request=replace(call.request, model=model), native=None)


def probe_call(model: str, dialect: Dialect) -> ChatCall:
    """A call that only asks routing where `model` would go (the models routes)."""
    request = MessagesRequest(model=model, messages=[], max_tokens=1)
    return ChatCall(dialect=dialect, stream=False, request=request)


class McpClientGrant(Struct, frozen=True, kw_only=True):
    """The tools of one MCP client a caller may use (Bifrost's virtual key `mcp_configs[]`)."""

    mcp_client_name: str
    tools_to_execute: tuple[str, ...] = ()  # the server's own tool names; "*" all, none: no tool


class Principal(Struct, frozen=True, kw_only=True):
    """Who is calling, as decided by gw_authenticate."""

    id: str
    name: str = ""
    kind: str = "anonymous"  # who decided: "virtual_key", "client_key", "jwt", ...
    team: str | None = None  # the team the caller belongs to, when the authenticator knows it
    # When not empty, the only MCP clients and tools the caller may use (the x-bf-mcp-include-* headers are then
    # ignored). On the principal, not in governance's own state, so that the MCP plugin reads it through the
    # plugin API and any authenticator (a JWT's claims, say) can grant tools the same way.
    mcp_configs: tuple[McpClientGrant, ...] = ()
    # Bifrost's per-key opt-out: a request log keeps no content (messages, answer) of this caller's calls.
    disable_content_logging: bool = False


class ToolCall(Struct, frozen=True, kw_only=True):
    """One tool the gateway runs for a caller: an MCP tool, run by `POST /v1/mcp/tool/execute`, through `/mcp`, or
    in agent mode. Not a `ChatCall`: no model is called, so it has hooks of its own (gw_admit_tool_call,
    gw_record_tool_call) rather than passing for an inference call in the inference hooks."""

    name: str  # as models see it: `{client}-{tool}`
    client: str  # the MCP client (server) it runs on
    tool: str  # the server's own name for it
    via: Literal["execute", "mcp", "agent"]


class ToolOutcome(Struct, frozen=True, kw_only=True):
    """How a tool call ended, as gw_record_tool_call sees it."""

    duration_s: float  # from the start of the call (its checks included) to its result or error
    is_error: bool = False  # the tool ran and reported an error (MCP's isError)
    error: GatewayError | None = None  # the call failed (refused, unknown tool, timeout, ...): what the caller got


# A stream's first chunk when its upstream has accepted the call but sent nothing yet: the client's response
# can start (its headers go out) while the events are on their way.
OPENED = Chunk(events=())
