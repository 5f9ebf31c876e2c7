"""Wire and canonical types. The canonical call has Anthropic Messages semantics (see ARCHITECTURE.md)."""
