"""`gateway check-config` and `serve` on Bifrost-shaped files: every error in one pass (schema, plugins,
governance), Bifrost settings we do not implement as warnings (errors with --strict-config), typos as errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.cli_helpers import run_cli
from tests.http.async_helpers import free_port

ENV = dict(os.environ)


def write(tmp_path: Path, config: dict[str, Any]) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


BROKEN: dict[str, Any] = {
    "encryption_key": "env.NOT_SET_ANYWHERE_FOR_THIS_TEST",  # ignored: its variable is not needed
    "client": {"max_request_body_size_mb": 0, "initial_pool_size": 300},
    "providers": {
        "openai": {"keys": [{"value": "sk-x", "wieght": 1}]},
        "mock": {"options": {"no_such_option": 1}},
    },
    "plugins": [{"name": "telemetry", "enabled": True}, {"name": "not-installed-anywhere"}],
    "governance": {
        "budgets": [{"id": "b1", "max_limit": 5, "reset_duration": "1d", "team_id": "no-such-team"}],
        "virtual_keys": [{"id": "vk", "name": "vk", "value": "sk-bf-x", "rate_limit_id": "no-such-limit"}],
    },
}


def test_check_config_reports_schema_plugin_and_governance_errors_in_one_pass(tmp_path: Path) -> None:
    result = run_cli("check-config", write(tmp_path, BROKEN), env=ENV)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert sorted(lines) == sorted(
        [
            "$.providers.openai.keys[0].wieght: unknown key (expected one of: aliases, azure_key_config,"
            " bedrock_key_config, blacklisted_models, models, name, value, weight)",
            "$.client.max_request_body_size_mb: Expected `int` >= 1",
            "$.plugins[1].name: no installed plugin is named 'not-installed-anywhere'; set `path`",
            "$.providers.mock.options.no_such_option: unknown key (expected one of: chunk_delay_ms, chunks,"
            " latency_ms, models)",
            "$.governance.virtual_keys[0].rate_limit_id: no rate limit in governance.rate_limits has id"
            " 'no-such-limit'",
            "$.governance.budgets[0].team_id: no team has id 'no-such-team'",
        ]
    ), lines


def test_serve_counts_every_error_and_names_the_first(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", write(tmp_path, BROKEN), "--port", str(free_port()), env=ENV)
    assert result.returncode == 2
    assert "(and 5 more; run `gateway check-config" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_strict_config_refuses_bifrost_settings_on_serve_too(tmp_path: Path) -> None:
    config = {"client": {"initial_pool_size": 300}, "providers": {"mock": {}}}
    path = write(tmp_path, config)
    assert run_cli("check-config", path, env=ENV).returncode == 0
    result = run_cli("serve", "--strict-config", "--config", path, "--port", str(free_port()), env=ENV)
    assert result.returncode == 2
    assert "$.client.initial_pool_size: a Bifrost setting this gateway does not implement yet" in result.stderr


def test_a_typo_next_to_bifrost_settings_stays_an_error(tmp_path: Path) -> None:
    config = {"client": {"initial_pool_size": 300, "enable_loging": True}, "providers": {"mock": {}}}
    result = run_cli("check-config", write(tmp_path, config), env=ENV)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith("$.client.enable_loging: unknown key")


def test_bad_retry_backoff_duration_is_an_error_with_its_path(tmp_path: Path) -> None:
    config = {"providers": {"mock": {"network_config": {"retry_backoff_initial": "soon"}}}}
    result = run_cli("check-config", write(tmp_path, config), env=ENV)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "$.providers.mock.network_config: expected milliseconds or a duration like '500ms' or '5s', got 'soon'"
    )


def test_bad_proxy_configs_are_errors_with_their_paths(tmp_path: Path) -> None:
    config = {
        "providers": {
            "openai": {"keys": [{"value": "k"}], "proxy_config": {"type": "http"}},
            "anthropic": {"keys": [{"value": "k"}], "proxy_config": {"type": "none", "ca_cert_pem": "not a cert"}},
            "mock": {"proxy_config": {"type": "ftp"}},
        }
    }
    result = run_cli("check-config", write(tmp_path, config), env=ENV)
    assert result.returncode == 1
    assert sorted(result.stderr.splitlines()) == [
        "$.providers.anthropic.proxy_config: ca_cert_pem is not a PEM certificate",
        "$.providers.mock.proxy_config.type: Invalid enum value 'ftp'",
        "$.providers.openai.proxy_config: a http proxy needs `url`",
    ]


def test_socks5_proxy_is_accepted_with_a_warning(tmp_path: Path) -> None:
    config = {"providers": {"mock": {"proxy_config": {"type": "socks5", "url": "socks5://127.0.0.1:1080"}}}}
    path = write(tmp_path, config)
    result = run_cli("check-config", path, env=ENV)
    assert result.returncode == 0
    assert result.stderr.strip() == (
        "warning: $.providers.mock.proxy_config.type: socks5 is not supported yet; this provider connects directly"
    )
    assert run_cli("check-config", "--strict-config", path, env=ENV).returncode == 1
