"""The base of every config Struct (in its own module so that config sections can live outside gateway.config)."""

from __future__ import annotations

from msgspec import Struct


class ConfigStruct(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Config Structs are strict: an unknown key is an error with its path (it is usually a typo)."""
