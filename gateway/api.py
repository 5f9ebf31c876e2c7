"""The plugin API: everything a plugin may import, in one module (also re-exported by the `gateway` package).

Plugins, the built-in ones included, import from `gateway.api` (or `gateway`) and `gateway.testing` only; a
contract test and a ruff rule keep it so. What is here is documented in the README's plugin reference.

Stability: `VERSION` follows semantic versioning. Within a major version, names here are not removed or renamed,
hook signatures only gain arguments (impls may declare fewer: pluggy passes only what they name), Structs only
gain fields with defaults, and errors keep their status and kind. What may change in a minor version: the
wording of error messages, the bundled media rules, the model catalog's data (prices, limits), and anything not
exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from .accounting import total_usage
from .admin import Admin, AdminAuth, add_admin_path, require_admin
from .answer import admit_tool_call, record_tool_call, start_call
from .call import (
    OPENED,
    ChatCall,
    ChatResult,
    Chunk,
    Dialect,
    McpClientGrant,
    NativeBody,
    Principal,
    RoutePlan,
    StructuredOutput,
    Target,
    ToolCall,
    ToolOutcome,
)
from .catalog import Catalog, ModelInfo
from .config import (
    ConfigError,
    ConfigStruct,
    NetworkConfig,
    PluginConfigRegistry,
    ProviderConfig,
    ProviderKey,
    Settings,
    convert_config,
)
from .config_shared import PostgresStoreConfig, RedisConfig, StoreConfig
from .context import CallContext, ChunkTransform, StreamWrapper
from .dialects.base import decode_json
from .errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NotFound,
    Overloaded,
    PaymentRequired,
    PermissionDenied,
    RateLimited,
    RequestTimeout,
    RequestTooLarge,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
    kind_for_status,
)
from .events import publish, subscribe
from .hookspecs import hookimpl
from .keys import ADMIN, APP_DIR, CATALOG, ERROR_DIALECT, PRICES, REDACTOR, REDIS, SETTINGS
from .keys import PLUGINS as _PLUGINS
from .model_override import ModelOverride
from .pricing import Price, PriceTable
from .prompt_cache import MAX_CACHE_MARKERS, InjectionPoint, PromptCacheConfig, cache_markers, without_cache_markers
from .providers.base import (
    BaseProvider,
    ChecksConfig,
    CountsMedia,
    ListsModels,
    NoOptions,
    Provider,
    ProviderSetup,
    UpstreamModel,
    models_named_by_keys,
)
from .providers.body import patch_native, relay_body, relayable
from .providers.registry import ProviderRegistry
from .providers.upstream import OPENED as OPENED_BATCH
from .providers.upstream import ErrorMapper, UpstreamClient, UpstreamReply, read_error_body, retry_after_seconds
from .readiness import NotReady, add_readiness_check
from .redaction import Redactor
from .redis_wire import ReplyError
from .routing import check_model_name, explicit_target, resolve_target
from .schemas import anthropic, openai
from .shared_redis import LuaScript, Outage, RedisUnavailable, SharedRedis
from .sse import END, SseBatch, SseFrame
from .startup import StartupError
from .stores.postgres import MigrationFailed, PostgresUnavailable, SchemaTooNew, migrate, postgres_pool
from .streaming import EventWriter, MessageAssembler, UsageTracker, delta_usage, message_to_events
from .structured_output import Mode as StructuredOutputMode
from .structured_output import StructuredOutputConfig, StructuredOutputModel
from .tokens import (
    CLAUDE,
    FREE,
    GEMINI,
    OPENAI,
    OPENAI_4O_MINI,
    MediaRules,
    PromptSize,
    count_text,
    estimate,
    estimate_input_tokens,
    measure,
    prompt_size,
    upper_bound,
)
from .tokens import DEFAULT as DEFAULT_MEDIA_RULES
from .translate.common import (
    EMPTY_OBJECT,
    OBJECT_DECODER,
    arguments_json,
    new_message_id,
    new_tool_use_id,
    stop_reason_from_finish,
    usage_from_openai,
)

if TYPE_CHECKING:
    from aiohttp import web

VERSION = "1.6.0"
T = TypeVar("T")
ConfigRegistry = PluginConfigRegistry  # the registry gw_register_config receives


def plugin_config(app: web.Application, config_type: type[T]) -> T:
    """A plugin's validated config (or its config section), by the Struct type it registered (in gw_lifespan;
    during a call, `ctx.config(T)` gives the same)."""
    value = app[_PLUGINS].configs.get(config_type)
    if value is None:
        raise LookupError(f"no plugin config of type {config_type.__name__}")
    return value  # type: ignore[return-value]


def plugin_enabled(app: web.Application, name: str) -> bool:
    """Whether `plugins[]` lists `name`, enabled: how an opt-in plugin (metrics, logging, otel, semantic_cache)
    knows it was asked for."""
    return any(entry.name == name and entry.enabled for entry in app[SETTINGS].plugins)


def add_hooks(app: web.Application, impl: object, name: str) -> None:
    """Register hook impls while the app starts (in gw_lifespan), before the engine reads the hook table: a
    plugin can add its request hooks only when it has something to do, so that unused it costs nothing."""
    app[_PLUGINS].pm.register(impl, name=name)


def remove_hooks(app: web.Application, name: str) -> None:
    """Unregister what `add_hooks` registered (at shutdown)."""
    if app[_PLUGINS].pm.get_plugin(name) is not None:
        app[_PLUGINS].pm.unregister(name=name)


__all__ = [
    "ADMIN",
    "APP_DIR",
    "CATALOG",
    "CLAUDE",
    "DEFAULT_MEDIA_RULES",
    "EMPTY_OBJECT",
    "END",
    "ERROR_DIALECT",
    "FREE",
    "GEMINI",
    "MAX_CACHE_MARKERS",
    "OBJECT_DECODER",
    "OPENAI",
    "OPENAI_4O_MINI",
    "OPENED",
    "OPENED_BATCH",
    "PRICES",
    "REDACTOR",
    "REDIS",
    "SETTINGS",
    "VERSION",
    "Admin",
    "AdminAuth",
    "AuthenticationFailed",
    "BaseProvider",
    "CallContext",
    "Catalog",
    "ChatCall",
    "ChatResult",
    "ChecksConfig",
    "Chunk",
    "ChunkTransform",
    "ConfigError",
    "ConfigRegistry",
    "ConfigStruct",
    "CountsMedia",
    "Dialect",
    "ErrorMapper",
    "EventWriter",
    "GatewayError",
    "InjectionPoint",
    "InvalidRequest",
    "ListsModels",
    "LuaScript",
    "McpClientGrant",
    "MediaRules",
    "MessageAssembler",
    "MigrationFailed",
    "ModelInfo",
    "ModelOverride",
    "NativeBody",
    "NetworkConfig",
    "NoOptions",
    "NotFound",
    "NotReady",
    "Outage",
    "Overloaded",
    "PaymentRequired",
    "PermissionDenied",
    "PostgresStoreConfig",
    "PostgresUnavailable",
    "Price",
    "PriceTable",
    "Principal",
    "PromptCacheConfig",
    "PromptSize",
    "Provider",
    "ProviderConfig",
    "ProviderKey",
    "ProviderRegistry",
    "ProviderSetup",
    "RateLimited",
    "Redactor",
    "RedisConfig",
    "RedisUnavailable",
    "ReplyError",
    "RequestTimeout",
    "RequestTooLarge",
    "RoutePlan",
    "SchemaTooNew",
    "Settings",
    "SharedRedis",
    "SseBatch",
    "SseFrame",
    "StartupError",
    "StoreConfig",
    "StreamWrapper",
    "StructuredOutput",
    "StructuredOutputConfig",
    "StructuredOutputMode",
    "StructuredOutputModel",
    "Target",
    "ToolCall",
    "ToolOutcome",
    "UnsupportedMediaType",
    "UpstreamClient",
    "UpstreamError",
    "UpstreamModel",
    "UpstreamReply",
    "UpstreamTimeout",
    "UsageTracker",
    "add_admin_path",
    "add_hooks",
    "add_readiness_check",
    "admit_tool_call",
    "anthropic",
    "arguments_json",
    "cache_markers",
    "check_model_name",
    "convert_config",
    "count_text",
    "decode_json",
    "delta_usage",
    "estimate",
    "estimate_input_tokens",
    "explicit_target",
    "hookimpl",
    "kind_for_status",
    "measure",
    "message_to_events",
    "migrate",
    "models_named_by_keys",
    "new_message_id",
    "new_tool_use_id",
    "openai",
    "patch_native",
    "plugin_config",
    "plugin_enabled",
    "postgres_pool",
    "prompt_size",
    "publish",
    "read_error_body",
    "record_tool_call",
    "relay_body",
    "relayable",
    "remove_hooks",
    "require_admin",
    "resolve_target",
    "retry_after_seconds",
    "start_call",
    "stop_reason_from_finish",
    "subscribe",
    "total_usage",
    "upper_bound",
    "usage_from_openai",
    "without_cache_markers",
]
