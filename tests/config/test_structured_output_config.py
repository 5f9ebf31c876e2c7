"""`providers.<name>.structured_output` in the config file: checked by `gateway check-config` (every error with
its path), and read by a plugin as typed settings (the provider's mode, a model's own, the repair and stream
settings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway import CallContext, ChatCall, hookimpl
from gateway.api import StructuredOutputConfig
from tests.cli_helpers import run_cli
from tests.conftest import MakeGateway

GOOD: dict[str, Any] = {
    "providers": {
        "mock": {
            "structured_output": {
                "mode": "tool",
                "models": {"m-native": {"mode": "native"}, "m-default": {}},
                "max_repair_attempts": 3,
                "buffer_streams": True,
            }
        },
        "openai": {"keys": [{"value": "sk-x"}], "structured_output": {"mode": "prompt"}},
    }
}
BAD: dict[str, Any] = {
    "providers": {
        "mock": {
            "structured_output": {
                "mode": "json",
                "models": {"m": {"mode": "schema"}},
                "max_repair_attempts": 6,
                "buffer_streams": "yes",
                "retries": 1,
            }
        }
    }
}


def write(tmp_path: Path, config: dict[str, Any]) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_check_config_accepts_a_structured_output_section(tmp_path: Path) -> None:
    result = run_cli("check-config", write(tmp_path, GOOD))
    assert result.returncode == 0, result.stderr


def test_check_config_names_each_bad_structured_output_field(tmp_path: Path) -> None:
    result = run_cli("check-config", write(tmp_path, BAD))
    assert result.returncode == 1
    errors = result.stderr
    prefix = "$.providers.mock.structured_output"
    for path in ("mode", "models.m.mode", "max_repair_attempts", "buffer_streams", "retries"):
        assert f"{prefix}.{path}:" in errors, (path, errors)
    assert "Expected `int` <= 5" in errors, errors


async def test_a_plugin_reads_the_mode_per_provider_and_model(make_gateway: MakeGateway) -> None:
    seen: list[tuple[str | None, int, bool]] = []

    class Reader:
        @hookimpl
        def gw_transform_request(self, call: ChatCall, ctx: CallContext) -> ChatCall:
            assert call.target is not None
            config = ctx.settings.providers[call.target.provider].structured_output
            seen.append((config.mode_for(call.target.model), config.max_repair_attempts, config.buffer_streams))
            return call

    gw = await make_gateway(
        {"providers": {**GOOD["providers"], "mock2": {"custom_provider_config": {"base_provider_type": "mock"}}}},
        [Reader()],
    )
    async with gw.anthropic() as client:
        for model in ("mock/m-native", "mock/m-default", "mock/other", "mock2/m"):
            await client.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert seen == [("native", 3, True), ("tool", 3, True), ("tool", 3, True), (None, 1, False)]
    assert StructuredOutputConfig() == StructuredOutputConfig(mode=None, models={}, max_repair_attempts=1)
