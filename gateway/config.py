"""Configuration: one JSON file with Bifrost's `config.json` names, decoded into strict, frozen Structs.

Strings of the form "env.NAME" are read from the environment. Every error is reported with its JSON path
(`$.providers.openai.keys[0].value: ...`), all of them at once, so a user fixes a file in one pass.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, field

from . import bifrost
from .config_base import ConfigStruct as ConfigStruct
from .config_shared import RedisConfig, StoreConfig
from .errors import split_validation_message
from .model_override import ModelOverride
from .prompt_cache import PromptCacheConfig
from .structured_output import StructuredOutputConfig

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_BACKOFF_INITIAL_MS = 500
DEFAULT_BACKOFF_MAX_MS = 5000
DEFAULT_STREAM_IDLE_TIMEOUT_S = 120.0
DEFAULT_STREAM_MAX_DURATION_S = 3600.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_MAX_TOKENS = 4096
ENV_PREFIX = "env."


class ProviderKey(ConfigStruct, frozen=True):
    name: str = ""
    value: str = ""
    models: list[str] = field(default_factory=lambda: ["*"])  # ["*"]: every model; []: none
    blacklisted_models: list[str] = field(default_factory=list)  # wins over `models`
    weight: Annotated[float, Meta(gt=0)] = 1.0
    # Provider-specific credentials, validated by the provider that uses them (azure, bedrock).
    azure_key_config: dict[str, Any] | None = None
    bedrock_key_config: dict[str, Any] | None = None
    # Bifrost's: a model name clients use -> the model id (or deployment) this key serves it as upstream. The
    # object form's `model_name` is the id (its other fields are Bifrost's pricing and routing tags).
    aliases: dict[str, str | KeyAlias] = field(default_factory=dict)

    def allows(self, model: str) -> bool:
        return model not in self.blacklisted_models and ("*" in self.models or model in self.models)

    def upstream_model(self, model: str) -> str:
        """The model id this key sends upstream for `model` (its alias, else `model`)."""
        alias = self.aliases.get(model)
        if alias is None:
            return model
        return alias if isinstance(alias, str) else alias.model_name

    def __repr__(self) -> str:  # never print a secret
        return f"ProviderKey(name={self.name!r}, models={self.models!r}, weight={self.weight})"


class KeyAlias(Struct, kw_only=True, frozen=True):
    """Bifrost's object form of an alias; fields other than `model_name` (`model_family`, `api_version`, ...)
    are accepted and not used."""

    model_name: str


class ProxyConfig(ConfigStruct, frozen=True):
    """Bifrost's per-provider proxy. `environment`: HTTP(S)_PROXY and NO_PROXY from the environment."""

    type: Literal["none", "http", "environment", "socks5"] = "none"
    url: str | None = None
    username: str | None = None
    password: str | None = None
    ca_cert_pem: str | None = None  # a CA to trust for TLS through an intercepting proxy

    def __post_init__(self) -> None:
        if self.type in ("http", "socks5") and not self.url:
            raise ValueError(f"a {self.type} proxy needs `url`")
        if self.ca_cert_pem:
            try:
                ssl.create_default_context().load_verify_locations(cadata=self.ca_cert_pem)
            except (ssl.SSLError, ValueError):
                raise ValueError("ca_cert_pem is not a PEM certificate") from None


GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$")
_GO_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def duration_ms(value: int | str) -> int:
    """Milliseconds of an integer (already milliseconds) or a Go duration string ("500ms", "5s", "1m30s")."""
    if isinstance(value, int):
        return value
    if not GO_DURATION.match(value):
        raise ValueError(f"expected milliseconds or a duration like '500ms' or '5s', got {value!r}")
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value)
    return round(sum(float(number) * _GO_UNIT_MS[unit] for number, unit in parts))


class NetworkConfig(ConfigStruct, frozen=True):
    base_url: str | None = None  # the provider's origin without /v1; the provider appends its paths
    extra_headers: dict[str, str] = field(default_factory=dict)
    default_request_timeout_in_seconds: Annotated[float, Meta(gt=0)] = DEFAULT_TIMEOUT_S
    stream_idle_timeout_in_seconds: Annotated[float, Meta(gt=0)] = DEFAULT_STREAM_IDLE_TIMEOUT_S  # keep-alives aside
    stream_max_duration_in_seconds: Annotated[float, Meta(gt=0)] | None = DEFAULT_STREAM_MAX_DURATION_S  # None: no cap
    max_retries: Annotated[int, Meta(ge=0, le=20)] = 0
    # Milliseconds, or a Go duration string ("500ms", "5s"); Bifrost's `_ms` spellings win when both are set.
    retry_backoff_initial: Annotated[int, Meta(ge=0)] | str = DEFAULT_BACKOFF_INITIAL_MS
    retry_backoff_max: Annotated[int, Meta(ge=0)] | str = DEFAULT_BACKOFF_MAX_MS
    retry_backoff_initial_ms: Annotated[int, Meta(ge=0)] | None = None
    retry_backoff_max_ms: Annotated[int, Meta(ge=0)] | None = None
    connect_timeout_in_seconds: Annotated[float, Meta(gt=0)] = DEFAULT_CONNECT_TIMEOUT_S
    keep_alive_timeout_in_seconds: Annotated[float, Meta(gt=0)] = 30.0  # an idle pooled connection's life
    max_conns_per_host: Annotated[int, Meta(ge=1, le=10_000)] = 5000  # connections open to one upstream host

    def __post_init__(self) -> None:
        duration_ms(self.retry_backoff_initial)  # a bad duration string is a config error with its path
        duration_ms(self.retry_backoff_max)

    @property
    def backoff_initial_ms(self) -> int:
        if self.retry_backoff_initial_ms is not None:
            return self.retry_backoff_initial_ms
        return duration_ms(self.retry_backoff_initial)

    @property
    def backoff_max_ms(self) -> int:
        if self.retry_backoff_max_ms is not None:
            return self.retry_backoff_max_ms
        return duration_ms(self.retry_backoff_max)


class ConcurrencyAndBufferSize(ConfigStruct, frozen=True):
    concurrency: Annotated[int, Meta(ge=1)] = 1000  # upstream calls in flight at once
    buffer_size: Annotated[int, Meta(ge=0)] = 5000  # calls waiting for a slot; beyond: 429 with retry-after
    queue_timeout_in_seconds: Annotated[float, Meta(gt=0)] = 30.0  # longest wait for a slot; then 429


class CustomProviderConfig(ConfigStruct, frozen=True):
    base_provider_type: str  # the provider kind this entry is an instance of, e.g. "openai" for vLLM


class ProviderConfig(ConfigStruct, frozen=True):
    keys: list[ProviderKey] = field(default_factory=list)
    network_config: NetworkConfig = field(default_factory=NetworkConfig)
    concurrency_and_buffer_size: ConcurrencyAndBufferSize = field(default_factory=ConcurrencyAndBufferSize)
    custom_provider_config: CustomProviderConfig | None = None
    proxy_config: ProxyConfig = field(default_factory=ProxyConfig)
    options: dict[str, Any] = field(default_factory=dict)  # kind-specific, validated by the provider's type
    # The model catalog corrected per model name as this provider is called with it (see gateway.catalog).
    models: dict[str, ModelOverride] = field(default_factory=dict)
    prompt_cache: PromptCacheConfig = field(default_factory=PromptCacheConfig)  # markers auto-injected
    # How answers are made to match a client's JSON Schema (see plugins/structured_output).
    structured_output: StructuredOutputConfig = field(default_factory=StructuredOutputConfig)


class ClientConfig(ConfigStruct, frozen=True):
    max_request_body_size_mb: Annotated[int, Meta(gt=0)] = 100  # after decompression (gzip/deflate bodies)
    # A connection must send a complete request head within this long of opening, or of its previous answer
    # (so it is also how long an idle keep-alive connection stays open).
    header_timeout_in_seconds: Annotated[float, Meta(gt=0)] = 15.0
    body_timeout_in_seconds: Annotated[float, Meta(gt=0)] = 60.0  # to receive a request body once its head is in
    max_connections: Annotated[int, Meta(ge=1)] | None = None  # per process; None: what the fd limit allows
    default_max_tokens: Annotated[int, Meta(gt=0)] = DEFAULT_MAX_TOKENS  # when an OpenAI client sets none
    enforce_auth_on_inference: bool = False  # refuse inference calls that carry no key
    # Bifrost's: refuse calls when a provider's buffer is full. Always so here (waiting for room in a full buffer
    # would be an unbounded queue), so the value changes nothing; it is accepted for Bifrost configs.
    drop_excess_requests: bool = False
    async_job_result_ttl: Annotated[int, Meta(gt=0)] = 3600  # seconds a finished job's result is kept
    async_max_concurrency: Annotated[int, Meta(ge=1, le=10_000)] = 16  # jobs running at once
    async_max_queue: Annotated[int, Meta(ge=1)] = 10_000  # jobs waiting; beyond it a submit answers 429
    async_sweep_interval_in_seconds: Annotated[float, Meta(gt=0)] = 60.0  # how often expired jobs are deleted
    # Browser origins allowed to call the gateway (CORS). Empty by default, unlike Bifrost's ["*"]: with no auth
    # enforced, "*" would let any web page a user visits spend the gateway's provider keys.
    allowed_origins: list[str] = field(default_factory=list)
    # A parameter the target model does not take (temperature for a reasoning model, effort for a model without
    # reasoning, an output cap above its limit) is dropped or clamped; false: the call is refused with a 400
    # naming the parameter (LiteLLM's drop_params).
    drop_unsupported_params: bool = True
    # How long a provider's live model list (its upstream's, for keys that allow "*") is fresh: after it, a listing
    # serves it and refreshes it in the background. 0: list only the models the keys name, never the upstream's.
    model_list_ttl_in_seconds: Annotated[float, Meta(ge=0)] = 600.0
    # Bifrost's: MCP tools are added to a call only when it asks for them with x-bf-mcp-include-* headers.
    mcp_disable_auto_tool_inject: bool = False
    # Bifrost's: extra labels of every metric (the metrics plugin), each filled per request from its
    # `x-bf-dim-<label>` header.
    prometheus_labels: list[Annotated[str, Meta(pattern=r"^[a-z_][a-z0-9_]{0,63}$")]] = field(default_factory=list)
    # The request log (plugin `logging`): false logs each call's messages and answer too (Bifrost's default);
    # a request opts out with `x-bf-disable-content-logging: true`.
    disable_content_logging: bool = False
    log_retention_days: Annotated[int, Meta(ge=1)] = 365  # rows older than this are purged in the background


class PluginEntry(ConfigStruct, frozen=True):
    name: str
    enabled: bool = True
    path: str | None = None  # import path of a module to load as a plugin (not needed for entry points)
    config: dict[str, Any] = field(default_factory=dict)


class Settings(ConfigStruct, frozen=True):
    schema: str | None = field(default=None, name="$schema")
    # Bifrost's: 1 reads an empty allow-list (`models`, `allowed_models`) as "all" (applied when the file is
    # read, see bifrost.version_1); 2 (or none) as "none", as this gateway always does.
    version: Literal[1, 2] | None = None
    config_store: StoreConfig | None = None
    logs_store: StoreConfig | None = None
    redis: RedisConfig | None = None  # state shared by several gateways (gateway/config_shared.py)
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    client: ClientConfig = field(default_factory=ClientConfig)
    plugins: list[PluginEntry] = field(default_factory=list)
    # Sections owned by plugins (typed and validated by the plugin that registers them: see add_section).
    governance: dict[str, Any] = field(default_factory=dict)
    mcp: dict[str, Any] = field(default_factory=dict)  # the MCP servers (plugins/mcp)

    def provider_kind(self, name: str) -> str:
        custom = self.providers[name].custom_provider_config
        return custom.base_provider_type if custom else name

    def upstream_kind(self, name: str) -> str:
        """What serves the provider: its kind, or "custom" for a custom provider (a server of the user's own that
        speaks its base kind's wire, with none of that kind's models or features assumed)."""
        config = self.providers.get(name)
        if config is None:
            return name
        return "custom" if config.custom_provider_config else self.provider_kind(name)


class ConfigError(Exception):
    """The config is invalid; `errors` holds one `$.path: message` line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class PluginConfigRegistry:
    """Where plugins declare their config Struct (gw_register_config)."""

    def __init__(self) -> None:
        self.types: dict[str, type[Struct]] = {}
        self.sections: dict[str, type[Struct]] = {}

    def add(self, name: str, config_type: type[Struct]) -> None:
        """The config of plugin `name`: its `plugins[].config`."""
        self.types[name] = config_type

    def add_section(self, section: str, config_type: type[Struct]) -> None:
        """A top-level section of the config file that a plugin owns (e.g. `governance`)."""
        self.sections[section] = config_type


def read_config(path: str | Path) -> Settings:
    """Read, resolve `env.` references and validate a config file; raise ConfigError listing every problem.

    Bifrost settings this gateway does not implement are dropped with a logged warning (gateway.loading reads
    a file the way `serve` and `check-config` do, with plugin checks and --strict-config)."""
    return parse_settings(decode_config(path))


def decode_config(path: str | Path) -> Any:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"$: cannot read {path}: {exc.strerror}"]) from None
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ConfigError([f"$: not valid JSON: {exc}"]) from None


def parse_settings(data: Any) -> Settings:
    resolved, errors, warnings = prepare(data)
    for line in warnings:
        logging.getLogger("gateway.config").warning("%s", line)
    errors.extend(collect_errors(resolved, Settings, "$"))
    if errors:
        raise ConfigError(errors)
    return msgspec.convert(resolved, Settings)


def prepare(data: Any) -> tuple[Any, list[str], list[str]]:
    """Read Bifrost's forms and resolve `env.` references: (data, errors, warnings about ignored settings).

    Ignored settings go first, so that an `env.` reference in one (`encryption_key`) needs no variable."""
    data = copy.deepcopy(data)  # the caller's dict stays as it was
    if isinstance(data, dict) and isinstance(data.get("auth_config"), dict):
        # Bifrost's deprecated top-level spelling of governance.auth_config
        governance = data.setdefault("governance", {})
        if isinstance(governance, dict):
            governance.setdefault("auth_config", data.pop("auth_config"))
    bifrost.version_1(data)
    data, warnings = bifrost.strip(data)
    resolved, errors = resolve_env(data, "$")
    return resolved, errors, warnings


def resolve_env(value: Any, path: str) -> tuple[Any, list[str]]:
    """Replace every "env.NAME" string with the variable's value; a missing variable is an error."""
    errors: list[str] = []
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX) :]
        if name in os.environ:
            return os.environ[name], errors
        return value, [f"{path}: environment variable {name} is not set"]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key], sub = resolve_env(item, f"{path}.{key}")
            errors.extend(sub)
        return out, errors
    if isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            resolved, sub = resolve_env(item, f"{path}[{i}]")
            items.append(resolved)
            errors.extend(sub)
        return items, errors
    return value, errors


def collect_errors(value: Any, tp: Any, path: str) -> list[str]:
    """Validate `value` as `tp`, descending into Structs, lists and dicts to report every error, not the first."""
    try:
        msgspec.convert(value, tp)
        return []
    except msgspec.ValidationError as exc:
        first = _with_path(str(exc), path)
    errors = list(_nested_errors(value, tp, path))
    return errors or [first]


def convert_config(value: Any, tp: type[Struct], path: str) -> Any:
    """Convert a raw dict into a registered config Struct, or raise ConfigError with paths under `path`."""
    errors = collect_errors(value, tp, path)
    if errors:
        raise ConfigError(errors)
    return msgspec.convert(value, tp)


def _nested_errors(value: Any, tp: Any, path: str) -> Iterator[str]:
    info = msgspec.inspect.type_info(tp)
    if isinstance(info, msgspec.inspect.UnionType):
        structs = [t for t in info.types if isinstance(t, msgspec.inspect.StructType)]
        info = structs[0] if len(structs) == 1 and isinstance(value, dict) else info
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        known = {f.encode_name: f for f in info.fields}
        for key in value:
            if key not in known:
                yield f"{path}.{key}: unknown key (expected one of: {', '.join(sorted(known))})"
        for f in info.fields:
            if f.encode_name in value:
                yield from collect_errors(value[f.encode_name], _py_type(info.cls, f.name), f"{path}.{f.encode_name}")
            elif f.required:
                yield f"{path}: missing required key {f.encode_name!r}"
    elif isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        item_type = _py_item_type(tp)
        for i, item in enumerate(value):
            yield from collect_errors(item, item_type, f"{path}[{i}]")
    elif isinstance(info, msgspec.inspect.DictType) and isinstance(value, dict):
        item_type = _py_item_type(tp, index=1)
        for key, item in value.items():
            yield from collect_errors(item, item_type, f"{path}.{key}")


def _py_type(cls: type, name: str) -> Any:
    import typing

    return typing.get_type_hints(cls, include_extras=True)[name]


def _py_item_type(tp: Any, index: int = 0) -> Any:
    import typing

    args = typing.get_args(tp)
    return args[index] if len(args) > index else Any


def _with_path(message: str, path: str) -> str:
    """msgspec says "Expected `str`, got `int` - at `$.keys[0]`"; we say "$.providers.x.keys[0]: Expected ..."."""
    split = split_validation_message(message)
    if split is not None:
        return f"{path}{split[0]}: {split[1]}"
    return f"{path}: {message}"
