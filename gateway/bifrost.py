"""Bifrost `config.json` settings this gateway accepts but does not implement yet.

A config written for Bifrost loads here: each of these fields, when present, costs one warning line naming its
path (`$.client.enable_logging: a Bifrost setting ...; ignored`) and is dropped before validation; with
`--strict-config` each is an error instead. A key in neither this list nor our Structs (a typo) stays an error.

Sources, by the comment above each group: "schema" is Bifrost's `transports/config.schema.json`; "doc X" is
docs/deployment-guides/config-json/X.mdx (schema-reference, client, providers, governance, plugins, storage);
"ref" is our /work/shared/reference/bifrost.md. When a field gets implemented, move it out of this list (a
contract test fails while a listed field is also one of our Struct fields).

Paths: `*` matches any key of an object, `[]` any item of an array.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

NOT_IMPLEMENTED: Final = "a Bifrost setting this gateway does not implement yet; ignored"
PROVIDER_NOT_IMPLEMENTED: Final = "a Bifrost provider this gateway does not implement yet; ignored"

FIELDS: Final[tuple[str, ...]] = (
    # schema, doc schema-reference: top-level keys
    "$.encryption_key",
    "$.source_of_truth",
    "$.framework",
    "$.vector_store",
    "$.websocket",
    "$.webhooks",
    "$.audit_logs",
    "$.cluster_config",
    "$.saml_config",
    "$.load_balancer_config",
    "$.guardrails_config",
    "$.alerting",
    "$.access_profiles",
    # doc client, doc schema-reference `client`, ref section 9
    "$.client.initial_pool_size",
    "$.client.logging_headers",
    "$.client.allow_direct_keys",
    "$.client.enforce_governance_header",
    "$.client.enforce_scim_auth",
    "$.client.enable_litellm_fallbacks",
    "$.client.header_filter_config",
    "$.client.required_headers",
    "$.client.whitelisted_routes",
    "$.client.allowed_headers",
    "$.client.compat",
    "$.client.disable_db_pings_in_health",
    "$.client.routing_chain_max_depth",
    "$.client.webhook_config",
    "$.client.mcp_agent_depth",
    "$.client.mcp_tool_execution_timeout",
    "$.client.mcp_tool_sync_interval",
    "$.client.mcp_external_client_url",
    # schema `provider`, doc providers
    "$.providers.*.send_back_raw_response",
    "$.providers.*.pricing_overrides",
    "$.providers.*.custom_provider_config.is_key_less",
    "$.providers.*.custom_provider_config.allowed_requests",
    "$.providers.*.custom_provider_config.request_path_overrides",
    "$.providers.*.network_config.stream_throughput_guard",
    "$.providers.*.network_config.insecure_skip_verify",
    "$.providers.*.network_config.ca_cert_pem",
    "$.providers.*.network_config.enforce_http2",
    "$.providers.*.network_config.beta_header_overrides",
    "$.providers.*.network_config.allow_private_network",
    "$.providers.*.concurrency_and_buffer_size.initial_pool_size",
    # schema `base_key` and its provider variants, doc providers
    "$.providers.*.keys[].id",
    "$.providers.*.keys[].key_id",
    "$.providers.*.keys[].use_for_batch_api",
    "$.providers.*.keys[].vertex_key_config",
    "$.providers.*.keys[].vllm_key_config",
    "$.providers.*.keys[].ollama_key_config",
    "$.providers.*.keys[].sgl_key_config",
    "$.providers.*.keys[].replicate_key_config",
    "$.providers.*.keys[].databricks_key_config",
    "$.providers.*.keys[].bedrock_mantle_key_config",
    "$.providers.*.keys[].bedrock_key_config.role_arn",
    "$.providers.*.keys[].bedrock_key_config.external_id",
    "$.providers.*.keys[].bedrock_key_config.session_name",
    "$.providers.*.keys[].bedrock_key_config.arn",
    "$.providers.*.keys[].bedrock_key_config.deployments",
    "$.providers.*.keys[].bedrock_key_config.batch_s3_config",
    # doc governance, schema `governance`
    "$.governance.routing_rules",
    "$.governance.pricing_overrides",
    "$.governance.model_configs",
    "$.governance.projects",
    "$.governance.budgets[].current_usage",
    "$.governance.budgets[].last_reset",
    "$.governance.budgets[].model_config_id",
    "$.governance.rate_limits[].metric",
    "$.governance.rate_limits[].token_current_usage",
    "$.governance.rate_limits[].token_last_reset",
    "$.governance.rate_limits[].request_current_usage",
    "$.governance.rate_limits[].request_last_reset",
    "$.governance.teams[].profile",
    "$.governance.teams[].config",
    "$.governance.teams[].claims",
    "$.governance.virtual_keys[].allow_all_providers",
    "$.governance.virtual_keys[].delete_after_expire",
    "$.governance.virtual_keys[].calendar_aligned",
    "$.governance.virtual_keys[].provider_configs[].virtual_key_id",
    "$.governance.virtual_keys[].provider_configs[].key_ids",
    "$.governance.virtual_keys[].provider_configs[].keys",
    "$.governance.virtual_keys[].provider_configs[].blacklisted_models",
    "$.governance.auth_config.disable_auth_on_inference",
    # ref section 6, doc schema-reference `mcp`
    "$.mcp.health_monitor_config",
    "$.mcp.client_configs[].client_id",
    "$.mcp.client_configs[].auth_type",
    "$.mcp.client_configs[].oauth_config",
    "$.mcp.client_configs[].per_user_header_keys",
    "$.mcp.client_configs[].is_code_mode_client",
    "$.mcp.client_configs[].needs_session_stickiness",
    "$.mcp.client_configs[].is_ping_available",
    "$.mcp.client_configs[].allow_by_default",
    "$.mcp.client_configs[].tls_config",
    # doc plugins, schema `plugins`
    "$.plugins[].placement",
    "$.plugins[].order",
    "$.plugins[].version",
)

# ref section 3, doc schema-reference `providers`: Bifrost's provider names with no provider kind here. A provider
# entry under one of these names is dropped with the warning (a custom provider naming one as its base stays an
# error: it would have to be served).
PROVIDERS: Final[tuple[str, ...]] = (
    "vertex", "cohere", "sgl", "parasail", "perplexity", "elevenlabs", "huggingface", "nebius", "replicate",
    "runway", "bedrock_mantle", "databricks", "deepgram", "opencode", "runware", "sarvam",
)  # fmt: skip

# doc plugins, schema `plugins[].name`: Bifrost's built-in plugins that have no counterpart here. Such a
# `plugins[]` entry is accepted and ignored (unless an installed plugin of ours has the name).
PLUGINS: Final[tuple[str, ...]] = (
    "semanticcache", "maxim", "datadog", "mocker", "jsonparser",
)  # fmt: skip

# Bifrost's plugins that a plugin of ours serves under another name: the entry is renamed (its Bifrost config,
# which has no fields of ours, is dropped with a warning). `telemetry` is Bifrost's Prometheus /metrics.
PLUGIN_ALIASES: Final[dict[str, str]] = {"telemetry": "metrics"}

# doc plugins: built-ins that Bifrost configures through plugins[] but this gateway through its own sections;
# their `config` is ignored (governance's `is_vk_mandatory` is our client.enforce_auth_on_inference).
PLUGIN_CONFIGS_IGNORED: Final[tuple[str, ...]] = ("governance",)


def strip(data: Any) -> tuple[Any, list[str]]:
    """Remove the Bifrost-only fields from a decoded config (in place), and say which (one line each)."""
    if not isinstance(data, dict):
        return data, []
    lines = []
    providers = data.get("providers")
    if isinstance(providers, dict):  # first, so that the fields of a dropped provider are not listed too
        for name in [n for n in providers if n in PROVIDERS]:
            del providers[name]
            lines.append(f"$.providers.{name}: {PROVIDER_NOT_IMPLEMENTED}")
    _enable_logging(data)
    found = [path for pattern in FIELDS for path in _remove(data, _segments(pattern), "$")]
    found.extend(_plugin_entries(data.get("plugins")))
    return data, lines + [f"{path}: {NOT_IMPLEMENTED}" for path in found]


def _enable_logging(data: dict[str, Any]) -> None:
    """Bifrost's switch of its request log, `client.enable_logging`, turns on the `logging` plugin, unless
    `plugins[]` has an entry of that name (which then decides)."""
    client = data.get("client")
    if not isinstance(client, dict) or "enable_logging" not in client:
        return
    on = client.pop("enable_logging")
    plugins = data.setdefault("plugins", [])
    if on is True and isinstance(plugins, list):
        if not _listed(plugins, "logging"):
            plugins.append({"name": "logging", "enabled": True})


def _plugin_entries(plugins: Any) -> Iterator[str]:
    if not isinstance(plugins, list):
        return
    for i, entry in enumerate(plugins):
        if not isinstance(entry, dict):
            continue
        name = entry.get("name")
        if name in PLUGINS:
            yield f"$.plugins[{i}] ({name})"
        elif name in PLUGIN_ALIASES:
            yield from _rename(plugins, i, entry, PLUGIN_ALIASES[name])
        elif name in PLUGIN_CONFIGS_IGNORED and entry.get("config"):
            entry["config"] = {}
            yield f"$.plugins[{i}].config"


def _rename(plugins: list[Any], i: int, entry: dict[str, Any], ours: str) -> Iterator[str]:
    """An alias entry becomes `ours`, unless the file lists `ours` itself (then the alias is ignored)."""
    if _listed(plugins, ours):
        yield f"$.plugins[{i}] ({entry['name']}, beside a `{ours}` entry)"
        return
    entry["name"] = ours
    if entry.get("config"):
        entry["config"] = {}
        yield f"$.plugins[{i}].config ({ours} has settings of its own)"


def _listed(plugins: list[Any], name: str) -> bool:
    return any(isinstance(entry, dict) and entry.get("name") == name for entry in plugins)


def ignored_plugin(name: str) -> bool:
    """A `plugins[]` entry that is one of Bifrost's built-ins we accept and ignore (an alias left as it was)."""
    return name in PLUGINS or name in PLUGIN_ALIASES


def _segments(pattern: str) -> list[str]:
    out: list[str] = []
    for part in pattern.removeprefix("$.").split("."):
        if part.endswith("[]"):
            out += [part[:-2], "[]"]
        else:
            out.append(part)
    return out


def _remove(data: Any, segments: list[str], path: str) -> Iterator[str]:
    for parent, name, where in _leaves(data, segments, path):
        del parent[name]
        yield where


def _leaves(node: Any, segments: list[str], path: str) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(object, key, path) of every value `segments` names; the whole list first, so deleting is safe."""
    head, rest = segments[0], segments[1:]
    if head == "[]":
        for i, item in enumerate(node if isinstance(node, list) else []):
            yield from _leaves(item, rest, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    for name in list(node) if head == "*" else [head] if head in node else []:
        if rest:
            yield from _leaves(node[name], rest, f"{path}.{name}")
        else:
            yield node, name, f"{path}.{name}"


def version_1(data: Any) -> None:
    """`"version": 1` (Bifrost v1.4): an empty allow-list allows everything, so `[]` becomes `["*"]` (doc
    schema-reference `version`: keys' `models`, virtual keys' `allowed_models`)."""
    if not isinstance(data, dict) or data.get("version") != 1:
        return
    for pattern in ("$.providers.*.keys[].models", "$.governance.virtual_keys[].provider_configs[].allowed_models"):
        for parent, name, _ in list(_leaves(data, _segments(pattern), "$")):
            if parent[name] == []:
                parent[name] = ["*"]
