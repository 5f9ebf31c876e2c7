"""A key's `bedrock_key_config`: AWS credentials and region, validated with their JSON paths."""

from __future__ import annotations

import re
from typing import Annotated

from msgspec import Meta

from gateway import ConfigStruct, ProviderConfig, ProviderKey
from gateway.api import ConfigError, convert_config

NonEmpty = Annotated[str, Meta(min_length=1)]
# It names the default host, so it must look like one: us-east-1, us-gov-west-1, eu-central-2.
REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-\d+")


class BedrockKeyConfig(ConfigStruct, frozen=True):
    region: NonEmpty
    access_key: NonEmpty
    secret_key: NonEmpty
    session_token: str | None = None  # temporary credentials (STS) come with one

    def __repr__(self) -> str:  # never print a secret
        return f"BedrockKeyConfig(region={self.region!r}, access_key={self.access_key!r})"


def key_configs(name: str, config: ProviderConfig) -> dict[int, BedrockKeyConfig]:
    """Every key's credentials by `id(key)`; raise ConfigError listing every invalid key with its path."""
    errors: list[str] = []
    found: dict[int, BedrockKeyConfig] = {}
    for index, key in enumerate(config.keys):
        path = f"$.providers.{name}.keys[{index}]"
        try:
            found[id(key)] = parse_key_config(key, path)
        except ConfigError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ConfigError(errors)
    return found


def parse_key_config(key: ProviderKey, path: str) -> BedrockKeyConfig:
    if key.bedrock_key_config is None:
        raise ConfigError([f"{path}: missing bedrock_key_config {{region, access_key, secret_key, session_token?}}"])
    where = f"{path}.bedrock_key_config"
    parsed: BedrockKeyConfig = convert_config(key.bedrock_key_config, BedrockKeyConfig, where)
    if not REGION.fullmatch(parsed.region):
        raise ConfigError([f"{where}.region: {parsed.region!r} is not an AWS region name (like us-east-1)"])
    return parsed
