"""Request bodies for tests, in each client dialect."""

from __future__ import annotations

from typing import Any

HI: list[dict[str, Any]] = [{"role": "user", "content": "hi"}]


def anthropic_body(model: str = "claude-x", text: str = "hi", max_tokens: int = 32, **extra: Any) -> dict[str, Any]:
    """A Messages request with one user turn."""
    return {"model": model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": text}], **extra}


def openai_body(model: str = "openai/gpt-x", text: str = "hi", **extra: Any) -> dict[str, Any]:
    """A Chat Completions request with one user turn."""
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}
