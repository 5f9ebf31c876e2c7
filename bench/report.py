"""Turning cell results into the printed tables and the derived gateway-versus-proxy figures."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any


@dataclass
class Cell:
    scenario: str
    stream: bool
    target: str
    concurrency: int
    result: dict[str, Any]  # a loadgen.CellResult as a dict, plus cpu_us_per_req

    def get(self, key: str) -> float:
        return float(self.result.get(key, 0.0))


def median_of_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from repeated runs of a cell: the median of each figure, error counts summed.

    The median of whole-run figures resists a run disturbed by other work on the machine better than a mean.
    """
    merged: dict[str, Any] = {}
    for key, first in runs[0].items():
        values = [r[key] for r in runs]
        if key in ("ok", "errors", "issued_total"):
            merged[key] = sum(values)
        elif isinstance(first, int | float) and not isinstance(first, bool):
            merged[key] = statistics.median(values)
        else:
            merged[key] = next((v for v in values if v), first)
    merged["runs"] = runs
    return merged


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _row(cols: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths, strict=True)))


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [_row(header, widths), _row(["-" * w for w in widths], widths)]
    lines.extend(_row(r, widths) for r in rows)
    return "\n".join(lines)


def cells_table(cells: list[Cell]) -> str:
    """One row per cell; for streams p50/p99 are time to last byte, ttfb columns time to first event."""
    header = ["scenario", "conc", "target", "req/s", "p50 ms", "p99 ms", "ttfb p50", "ttfb p99", "cpu us/req"]
    header.append("ok/err")
    rows = []
    for c in cells:
        ttfb = (c.get("ttfb_p50_ms"), c.get("ttfb_p99_ms")) if c.stream else (None, None)
        rows.append(
            [
                c.scenario,
                str(c.concurrency),
                c.target,
                _fmt(c.get("rps"), 0),
                _fmt(c.get("p50_ms")),
                _fmt(c.get("p99_ms")),
                _fmt(ttfb[0]),
                _fmt(ttfb[1]),
                _fmt(c.get("cpu_us_per_req"), 0),
                f"{int(c.get('ok'))}/{int(c.get('errors'))}",
            ]
        )
    return _table(header, rows)


def error_notes(cells: list[Cell]) -> list[str]:
    """The first error of every cell that had any, so a broken target is visible at a glance."""
    return [
        f"{c.scenario} c{c.concurrency} {c.target}: {int(c.get('errors'))} errors, first: {c.result['first_error']}"
        for c in cells
        if c.get("errors")
    ]


def _ratio(num: float | None, den: float | None) -> float | None:
    # A ratio of added latencies is meaningless when the proxy adds nothing measurable.
    if num is None or den is None or den <= 0:
        return None
    return num / den


def derive(cells: list[Cell]) -> list[dict[str, Any]]:
    """Per scenario and concurrency: what proxy and gateway add over direct, and gateway/proxy ratios."""
    index = {(c.scenario, c.concurrency, c.target): c for c in cells}
    out = []
    for scenario, conc in dict.fromkeys((c.scenario, c.concurrency) for c in cells):
        direct, proxy, gw = (index.get((scenario, conc, t)) for t in ("direct", "proxy", "gateway"))
        if direct is None:
            continue

        def added(cell: Cell | None, key: str, base: Cell = direct) -> float | None:
            return None if cell is None or not cell.get("ok") else cell.get(key) - base.get(key)

        row: dict[str, Any] = {"scenario": scenario, "concurrency": conc, "stream": direct.stream}
        for key, name in (("p50_ms", "added_p50_ms"), ("ttfb_p50_ms", "added_ttfb_p50_ms")):
            row[f"proxy_{name}"] = added(proxy, key)
            row[f"gateway_{name}"] = added(gw, key)
            row[f"{name}_ratio"] = _ratio(row[f"gateway_{name}"], row[f"proxy_{name}"])
        row["rps_ratio"] = row["cpu_ratio"] = None
        if proxy is not None and gw is not None and gw.get("ok"):
            row["rps_ratio"] = _ratio(gw.get("rps"), proxy.get("rps"))
            row["cpu_ratio"] = _ratio(gw.get("cpu_us_per_req"), proxy.get("cpu_us_per_req"))
        out.append(row)
    return out


def derived_table(rows: list[dict[str, Any]]) -> str:
    header = ["scenario", "conc", "+p50 proxy", "+p50 gw", "ratio", "+ttfb proxy", "+ttfb gw", "ratio"]
    header += ["rps gw/proxy", "cpu gw/proxy"]
    body = []
    for r in rows:
        stream = r["stream"]
        body.append(
            [
                r["scenario"],
                str(r["concurrency"]),
                _fmt(r["proxy_added_p50_ms"]),
                _fmt(r["gateway_added_p50_ms"]),
                _fmt(r["added_p50_ms_ratio"], 2),
                _fmt(r["proxy_added_ttfb_p50_ms"] if stream else None),
                _fmt(r["gateway_added_ttfb_p50_ms"] if stream else None),
                _fmt(r["added_ttfb_p50_ms_ratio"] if stream else None, 2),
                _fmt(r["rps_ratio"], 2),
                _fmt(r["cpu_ratio"], 2),
            ]
        )
    return _table(header, body)


def headline(rows: list[dict[str, Any]]) -> list[str]:
    """The three figures the benchmark exists for, at the lowest and highest concurrency measured."""
    if not rows:
        return []
    low = min(r["concurrency"] for r in rows)
    high = max(r["concurrency"] for r in rows)
    lines = []
    for r in rows:
        if r["concurrency"] == low:
            lines.append(
                f"c{low} added p50 latency {r['scenario']}: gateway {_fmt(r['gateway_added_p50_ms'])} ms"
                f" vs proxy {_fmt(r['proxy_added_p50_ms'])} ms -> ratio {_fmt(r['added_p50_ms_ratio'], 2)}"
            )
    for r in rows:
        if r["concurrency"] == high:
            lines.append(f"c{high} req/s gateway/proxy {r['scenario']}: {_fmt(r['rps_ratio'], 2)}")
    for r in rows:
        if r["scenario"] == "anthropic_stream":
            lines.append(
                f"anthropic_stream c{r['concurrency']} added time-to-last-byte ratio gateway/proxy: "
                f"{_fmt(r['added_p50_ms_ratio'], 2)}"
            )
    return lines


def baseline_table(cells: list[Cell]) -> str:
    """Per scenario and concurrency: the gateway's cpu us/req, req/s and p50 as ratios to the baseline's."""
    index = {(c.scenario, c.concurrency, c.target): c for c in cells}
    rows = []
    for (scenario, conc, target), gw in sorted(index.items()):
        base = index.get((scenario, conc, "baseline"))
        if target != "gateway" or base is None:
            continue
        rows.append(
            [
                scenario,
                str(conc),
                f"{gw.get('cpu_us_per_req'):.0f} / {base.get('cpu_us_per_req'):.0f}",
                _fmt(_ratio(gw.get("cpu_us_per_req"), base.get("cpu_us_per_req")), 2),
                _fmt(_ratio(gw.get("rps"), base.get("rps")), 2),
                _fmt(_ratio(gw.get("p50_ms"), base.get("p50_ms")), 2),
            ]
        )
    return _table(["scenario", "conc", "cpu us/req gw / base", "cpu ratio", "rps ratio", "p50 ratio"], rows)
