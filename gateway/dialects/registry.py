"""The client dialects by name (one stateless instance each)."""

from __future__ import annotations

from .anthropic import AnthropicDialect
from .base import ClientDialect
from .openai import OpenAIDialect

ANTHROPIC = AnthropicDialect()
OPENAI = OpenAIDialect()
BY_NAME: dict[str, ClientDialect] = {"anthropic": ANTHROPIC, "openai": OPENAI}
