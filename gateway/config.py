"""Configuration: one JSON file with Bifrost's `config.json` names, decoded into strict, frozen Structs.

Strings of the form "env.NAME" are read from the environment. Every error is reported with its JSON path
(`$.providers.openai.keys[0].value: ...`), all of them at once, so a user fixes a file in one pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, field

from .errors import split_validation_message

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_BACKOFF_INITIAL_MS = 500
DEFAULT_BACKOFF_MAX_MS = 5000
DEFAULT_STREAM_IDLE_TIMEOUT_S = 120.0
DEFAULT_STREAM_MAX_DURATION_S = 3600.0
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_MAX_TOKENS = 4096
ENV_PREFIX = "env."


class ConfigStruct(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Config Structs are strict: an unknown key is an error with its path (it is usually a typo)."""


class ProviderKey(ConfigStruct, frozen=True):
    name: str = ""
    value: str = ""
    models: list[str] = field(default_factory=lambda: ["*"])  # ["*"]: every model; []: none
    blacklisted_models: list[str] = field(default_factory=list)  # wins over `models`
    weight: Annotated[float, Meta(gt=0)] = 1.0
    # Provider-specific credentials, validated by the provider that uses them (azure, bedrock).
    azure_key_config: dict[str, Any] | None = None
    bedrock_key_config: dict[str, Any] | None = None

    def allows(self, model: str) -> bool:
        return model not in self.blacklisted_models and ("*" in self.models or model in self.models)

    def __repr__(self) -> str:  # never print a secret
        return f"ProviderKey(name={self.name!r}, models={self.models!r}, weight={self.weight})"


class NetworkConfig(ConfigStruct, frozen=True):
    base_url: str | None = None  # the provider's origin without /v1; the provider appends its paths
    extra_headers: dict[str, str] = field(default_factory=dict)
    default_request_timeout_in_seconds: Annotated[float, Meta(gt=0)] = DEFAULT_TIMEOUT_S
    stream_idle_timeout_in_seconds: Annotated[float, Meta(gt=0)] = DEFAULT_STREAM_IDLE_TIMEOUT_S  # keep-alives aside
    stream_max_duration_in_seconds: Annotated[float, Meta(gt=0)] | None = DEFAULT_STREAM_MAX_DURATION_S  # None: no cap
    max_retries: Annotated[int, Meta(ge=0, le=20)] = 0
    retry_backoff_initial: Annotated[int, Meta(ge=0)] = DEFAULT_BACKOFF_INITIAL_MS  # milliseconds
    retry_backoff_max: Annotated[int, Meta(ge=0)] = DEFAULT_BACKOFF_MAX_MS  # milliseconds
    connect_timeout_in_seconds: Annotated[float, Meta(gt=0)] = DEFAULT_CONNECT_TIMEOUT_S


class ConcurrencyAndBufferSize(ConfigStruct, frozen=True):
    concurrency: Annotated[int, Meta(ge=1)] = 1000  # upstream calls in flight at once
    buffer_size: Annotated[int, Meta(ge=0)] = 5000  # calls waiting for a slot; beyond: 429 with retry-after
    queue_timeout_in_seconds: Annotated[float, Meta(gt=0)] = 30.0  # longest wait for a slot; then 429


class CustomProviderConfig(ConfigStruct, frozen=True):
    base_provider_type: str  # the provider kind this entry is an instance of, e.g. "openai" for vLLM


InputModality = Literal["text", "image", "pdf", "audio", "video"]
PositiveInt = Annotated[int, Meta(gt=0)]


class ModelOverride(ConfigStruct, frozen=True):
    """What the model catalog says about one model, corrected or filled in (a self-hosted model the catalog does
    not know, a deployment with other limits). Unset fields keep the catalog's value."""

    name: str | None = None  # display name in model listings
    context_window: PositiveInt | None = None
    max_input_tokens: PositiveInt | None = None
    max_output_tokens: PositiveInt | None = None
    reasoning: bool | None = None  # takes thinking / reasoning effort
    temperature: bool | None = None  # takes temperature (OpenAI's reasoning models do not)
    tool_call: bool | None = None
    structured_output: bool | None = None
    input_modalities: list[InputModality] | None = None  # e.g. ["text"]: images and PDFs are refused before the call
    release_date: str | None = None  # YYYY-MM-DD, shown as the listing's creation date
    # USD per token, as governance.pricing spells it (see gateway.pricing.Price); wins over the catalog's price.
    input_cost_per_token: Annotated[float, Meta(ge=0)] | None = None
    output_cost_per_token: Annotated[float, Meta(ge=0)] | None = None
    cache_read_input_token_cost: Annotated[float, Meta(ge=0)] | None = None
    cache_creation_input_token_cost: Annotated[float, Meta(ge=0)] | None = None


class ProviderConfig(ConfigStruct, frozen=True):
    keys: list[ProviderKey] = field(default_factory=list)
    network_config: NetworkConfig = field(default_factory=NetworkConfig)
    concurrency_and_buffer_size: ConcurrencyAndBufferSize = field(default_factory=ConcurrencyAndBufferSize)
    custom_provider_config: CustomProviderConfig | None = None
    options: dict[str, Any] = field(default_factory=dict)  # kind-specific, validated by the provider's type
    # The model catalog corrected per model name as this provider is called with it (see gateway.catalog).
    models: dict[str, ModelOverride] = field(default_factory=dict)


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


class PluginEntry(ConfigStruct, frozen=True):
    name: str
    enabled: bool = True
    path: str | None = None  # import path of a module to load as a plugin (not needed for entry points)
    config: dict[str, Any] = field(default_factory=dict)


class Settings(ConfigStruct, frozen=True):
    schema: str | None = field(default=None, name="$schema")
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    client: ClientConfig = field(default_factory=ClientConfig)
    plugins: list[PluginEntry] = field(default_factory=list)
    # Sections owned by plugins (typed and validated by the plugin that registers them: see add_section).
    governance: dict[str, Any] = field(default_factory=dict)

    def provider_kind(self, name: str) -> str:
        custom = self.providers[name].custom_provider_config
        return custom.base_provider_type if custom else name


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
    """Read, resolve `env.` references and validate a config file; raise ConfigError listing every problem."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"$: cannot read {path}: {exc.strerror}"]) from None
    try:
        data = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ConfigError([f"$: not valid JSON: {exc}"]) from None
    return parse_settings(data)


def parse_settings(data: Any) -> Settings:
    resolved, errors = resolve_env(data, "$")
    errors.extend(collect_errors(resolved, Settings, "$"))
    if errors:
        raise ConfigError(errors)
    return msgspec.convert(resolved, Settings)


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
