"""Structured output: a schema the answer must match, held on every provider (native, tool or prompt mode)."""
