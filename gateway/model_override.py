"""`providers.<name>.models` entries: the model catalog corrected or extended by the config (see gateway.catalog)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from .config_base import ConfigStruct

InputModality = Literal["text", "image", "pdf", "audio", "video"]
PositiveInt = Annotated[int, Meta(gt=0)]


class ModelOverride(ConfigStruct, frozen=True):
    """What the model catalog says about one model, corrected or filled in (a self-hosted model the catalog does
    not know, a deployment with other limits). Unset fields keep the catalog's value."""

    name: str | None = None  # display name in model listings
    context_window: PositiveInt | None = None
    max_input_tokens: PositiveInt | None = None
    max_output_tokens: PositiveInt | None = None
    reasoning: bool | None = None  # takes thinking / reasoning effort
    temperature: bool | None = None  # takes temperature (OpenAI's reasoning models do not)
    tool_call: bool | None = None
    structured_output: bool | None = None
    input_modalities: list[InputModality] | None = None  # e.g. ["text"]: images and PDFs are refused before the call
    release_date: str | None = None  # YYYY-MM-DD, shown as the listing's creation date
    # USD per token, as governance.pricing spells it (see gateway.pricing.Price); wins over the catalog's price.
    input_cost_per_token: Annotated[float, Meta(ge=0)] | None = None
    output_cost_per_token: Annotated[float, Meta(ge=0)] | None = None
    cache_read_input_token_cost: Annotated[float, Meta(ge=0)] | None = None
    cache_creation_input_token_cost: Annotated[float, Meta(ge=0)] | None = None
