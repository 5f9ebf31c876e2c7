"""The README's price table is the bundled one (prices in USD per million tokens)."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.pricing import BUNDLED, PriceTable
from gateway.schemas.anthropic import Usage

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
ROW = re.compile(r"^\| (`[^|]+`) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", re.M)


def test_readme_price_table_matches_the_bundled_prices() -> None:
    table = PriceTable({})
    documented = {}
    for names, *prices in ROW.findall(README):
        first, *others = [n.strip("`") for n in names.split(", ")]
        provider = first.split("/")[0]
        for name in [first, *(f"{provider}/{o}" for o in others)]:
            documented[name] = tuple(float(p) for p in prices)
    assert set(documented) == set(BUNDLED)
    for name, (inp, out, read, write) in documented.items():
        price = BUNDLED[name]
        one = Usage(input_tokens=1_000_000, output_tokens=0)
        assert abs(table.cost(price, one) - inp) < 1e-9, name
        assert abs(table.cost(price, Usage(output_tokens=1_000_000)) - out) < 1e-9, name
        assert abs(table.cost(price, Usage(cache_read_input_tokens=1_000_000)) - read) < 1e-9, name
        assert abs(table.cost(price, Usage(cache_creation_input_tokens=1_000_000)) - write) < 1e-9, name
