"""Prices are the app's (gateway.pricing, `PRICES` in the plugin API); governance adds `governance.pricing` to them
at start-up. The names below are the core's, for code that looked for them here."""

from gateway.api import BUNDLED_PRICES as BUNDLED
from gateway.api import Price, PriceTable

__all__ = ["BUNDLED", "Price", "PriceTable"]
