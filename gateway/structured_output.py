"""`providers.<name>.structured_output`: how a provider is made to answer in the client's JSON Schema.

Declared in core, as `prompt_cache` is, because it is part of a provider's config (the config file is checked
whole at start, plugins loaded or not); the `structured_output` plugin reads it per attempt. `mode: None` means
"not configured": the plugin then decides from the model catalog and the provider's kind.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct, field

Mode = Literal["native", "tool", "prompt"]
MAX_REPAIR_ATTEMPTS = 5


class _Strict(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """What `gateway.config.ConfigStruct` is (strict: an unknown key is an error), declared here so that the config
    module can import the Structs below without an import cycle."""


class StructuredOutputModel(_Strict, frozen=True):
    """One model's entry in `structured_output.models` (by the model name the provider is called with)."""

    mode: Mode | None = None  # None: the provider's mode


class StructuredOutputConfig(_Strict, frozen=True):
    """`providers.<name>.structured_output`.

    `mode`: `native` (the provider's own field), `tool` (one forced tool whose input is the answer) or `prompt`
    (the schema in the system prompt); None: chosen from the catalog and the provider's kind. `models` overrides
    it per model. An answer that does not validate is asked for again up to `max_repair_attempts` times (0: never);
    `buffer_streams` holds a stream back until its answer validated (and was repaired if need be), so an invalid
    one can still be repaired, at the price of sending nothing until then.
    """

    mode: Mode | None = None
    models: dict[str, StructuredOutputModel] = field(default_factory=dict)
    max_repair_attempts: Annotated[int, Meta(ge=0, le=MAX_REPAIR_ATTEMPTS)] = 1
    buffer_streams: bool = False

    def mode_for(self, model: str) -> Mode | None:
        """The configured mode for `model` (its own entry first), or None when neither says."""
        entry = self.models.get(model)
        if entry is not None and entry.mode is not None:
            return entry.mode
        return self.mode
