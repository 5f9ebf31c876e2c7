"""The suite's fixtures are the plugin author's kit (`gateway.testing`, loaded as a pytest plugin): fake_upstream,
make_gateway, gateway. The names below are the kit's, for the tests that import them from here."""

from __future__ import annotations

from gateway.testing import ANTHROPIC_KEY, CLIENT_KEY, OPENAI_KEY, Gateway, MakeGateway, upstream_config

__all__ = ["ANTHROPIC_KEY", "CLIENT_KEY", "OPENAI_KEY", "Gateway", "MakeGateway", "upstream_config"]
