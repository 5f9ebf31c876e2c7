"""The two-cell report a with/without benchmark prints (bench.structured_output, bench.mcp_injection)."""

from __future__ import annotations

import statistics
from typing import Any

Cells = dict[bool, list[dict[str, Any]]]


def report(title: str, cells: Cells, labels: tuple[str, str]) -> tuple[float, float]:
    """Print p50, `cpu us/req` and errors of the cell without (False) and with (True) the feature, medians over
    the rounds; return what the feature adds: (p50 us, cpu us per request)."""
    print(f"{title:<40} {'p50 ms':>8} {'cpu us/req':>11} {'errors':>7}")
    figures = {}
    for on, label in ((False, labels[0]), (True, labels[1])):
        p50 = statistics.median(r["p50_ms"] for r in cells[on])
        cpu = statistics.median(r["cpu_us_per_req"] for r in cells[on])
        errors = sum(r["errors"] for r in cells[on])
        figures[on] = (p50, cpu)
        print(f"{label:<40} {p50:>8.3f} {cpu:>11.0f} {errors:>7}")
    return (figures[True][0] - figures[False][0]) * 1000, figures[True][1] - figures[False][1]
