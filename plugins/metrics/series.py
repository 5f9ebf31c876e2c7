"""The metrics of one app, on a registry of its own, with Bifrost's names, labels and bounded label values.

Counted in plain floats, not in prometheus-client's metric objects: their `inc` and `observe` take a lock and
several calls each (a call's dozen counts cost ~10 us of CPU that way, ~2 us this way). No lock is needed: every
count and every scrape run on the app's event loop thread. The registry reads the floats through `Collector`, in
the exposition prometheus-client's own Counter / Histogram / Gauge give (`_total`, `_created`, `_bucket`...).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

BASE_LABELS = ("provider", "model", "virtual_key_name", "team", "fallback_index")
HTTP_LABELS = ("path", "method", "status")
OTHER = "other"
MAX_VALUE_LENGTH = 100
# Seconds, like Bifrost's upstream and first-token histograms; the overhead histogram is in microseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000)
GO_FLOAT: Callable[[float], str] = floatToGoString  # `le` as prometheus-client writes it ("1.0", "+Inf")


class Bounded:
    """Label values, each label keeping its first `limit` distinct ones (cut to 100 characters); later new values
    read as "other". Per app: the values a process has seen since it started."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: dict[str, set[str]] = {}

    def __call__(self, label: str, value: str) -> str:
        seen = self._seen.get(label)
        if seen is None:
            seen = self._seen[label] = set()
        if value in seen:
            return value
        value = value[:MAX_VALUE_LENGTH]
        if value in seen:
            return value
        if len(seen) >= self._limit:
            return OTHER
        seen.add(value)
        return value


class LabelValues:
    """Raw label values bounded (Bounded), the answer remembered for the first MEMO raw tuples: a value's bounded
    form never changes (Bounded admits a value for good or never), and one dict lookup costs less than a
    Bounded call per label. Beyond MEMO distinct raw tuples (callers sending ever new values) it stops noting."""

    MEMO = 10_000

    def __init__(self, bounded: Bounded, names: tuple[str, ...]) -> None:
        self._bounded = bounded
        self._names = names
        self._memo: dict[tuple[str, ...], tuple[str, ...]] = {}

    def __call__(self, raw: tuple[str, ...]) -> tuple[str, ...]:
        found = self._memo.get(raw)
        if found is None:
            found = tuple(self._bounded(name, value) for name, value in zip(self._names, raw, strict=True))
            if len(self._memo) < self.MEMO:
                self._memo[raw] = found
        return found


class Histogram:
    """One labelled histogram: a count per bucket (not cumulative; the last is +Inf) and the sum."""

    __slots__ = ("bounds", "counts", "les", "sum")

    def __init__(self, bounds: tuple[float, ...], les: tuple[str, ...]) -> None:
        self.bounds = bounds
        self.les = les  # the bounds and +Inf, as `le` label values
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value: Prometheus's `le`
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        cumulative, found = 0, []
        for le, count in zip(self.les, self.counts, strict=True):
            cumulative += count
            found.append((le, float(cumulative)))
        return found


def _les(bounds: tuple[float, ...]) -> tuple[str, ...]:
    return tuple(GO_FLOAT(bound) for bound in (*bounds, float("inf")))


LATENCY_LES = _les(LATENCY_BUCKETS)
OVERHEAD_LES = _les(OVERHEAD_BUCKETS)


class CallSeries:
    """The call metrics of one set of base (and custom) labels."""

    __slots__ = (
        "cost",
        "created",
        "first_token",
        "input_tokens",
        "output_tokens",
        "overhead",
        "success",
        "upstream_latency",
        "upstream_requests",
    )

    def __init__(self) -> None:
        self.created = time.time()
        self.upstream_requests = 0.0
        self.success = 0.0
        self.input_tokens = 0.0
        self.output_tokens = 0.0
        self.cost = 0.0
        self.upstream_latency = Histogram(LATENCY_BUCKETS, LATENCY_LES)
        self.first_token = Histogram(LATENCY_BUCKETS, LATENCY_LES)
        self.overhead = Histogram(OVERHEAD_BUCKETS, OVERHEAD_LES)


class HttpSeries:
    __slots__ = ("created", "duration", "requests")

    def __init__(self) -> None:
        self.created = time.time()
        self.requests = 0.0
        self.duration = Histogram(LATENCY_BUCKETS, LATENCY_LES)


class Tally:
    """A counter with extra labels (errors, cache hits): a value and its creation time per label set."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, ...], list[float]] = {}

    def inc(self, labels: tuple[str, ...]) -> None:
        found = self.values.get(labels)
        if found is None:
            found = self.values[labels] = [0.0, time.time()]
        found[0] += 1


class Series:
    """Every metric the plugin reports, registered on `registry` (one per app: two apps never share a count)."""

    def __init__(self, custom: tuple[str, ...], limit: int, team_from_header: bool = False) -> None:
        self.custom = custom
        self.team_from_header = team_from_header  # `team` in client.prometheus_labels: see the plugin's module
        self.bounded = Bounded(limit)
        self.call_labels = LabelValues(self.bounded, (*BASE_LABELS, *custom))  # a call's: base, then custom
        self.custom_labels = LabelValues(self.bounded, custom)
        self.calls: dict[tuple[str, ...], CallSeries] = {}
        self.https: dict[tuple[str, ...], HttpSeries] = {}
        self.errors = Tally()  # labels: base, status_code, error_type
        self.cache_hits = Tally()  # labels: base, cache_type
        self.active = 0  # inference requests in flight
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(Exposition(self))

    def call(self, labels: tuple[str, ...]) -> CallSeries:
        """The call metrics for `labels` (bounded values: the dict is as bounded as the series)."""
        found = self.calls.get(labels)
        if found is None:
            found = self.calls[labels] = CallSeries()
        return found

    def http(self, labels: tuple[str, ...]) -> HttpSeries:
        found = self.https.get(labels)
        if found is None:
            found = self.https[labels] = HttpSeries()
        return found


class Exposition(Collector):
    """The floats of a Series as metric families, read at each scrape."""

    def __init__(self, series: Series) -> None:
        self.series = series

    def collect(self) -> Iterator[Metric]:
        series = self.series
        base = (*BASE_LABELS, *series.custom)
        http = (*HTTP_LABELS, *series.custom)
        yield _counter("http_requests_total", "HTTP requests", http, series.https, "requests")
        yield _histogram("http_request_duration_seconds", "HTTP request duration", http, series.https, "duration")
        calls = series.calls
        yield _counter("bifrost_upstream_requests_total", "Calls sent to a provider", base, calls, "upstream_requests")
        yield _counter("bifrost_success_requests_total", "Calls answered", base, calls, "success")
        errors = (*base, "status_code", "error_type")
        yield _tally("bifrost_error_requests_total", "Calls that failed", errors, series.errors)
        yield _histogram(
            "bifrost_upstream_latency_seconds",
            "Time waiting on providers (retries and fallbacks included)",
            base,
            calls,
            "upstream_latency",
        )
        yield _counter("bifrost_input_tokens_total", "Prompt tokens", base, calls, "input_tokens")
        yield _counter("bifrost_output_tokens_total", "Completion tokens", base, calls, "output_tokens")
        yield _tally("bifrost_cache_hits_total", "Calls a cache answered", (*base, "cache_type"), series.cache_hits)
        yield _counter("bifrost_cost_total", "Cost in USD", base, calls, "cost")
        active = GaugeMetricFamily("bifrost_active_requests", "Inference requests in flight")
        active.add_metric([], float(series.active))
        yield active
        yield _histogram(
            "bifrost_stream_first_token_latency_seconds", "Time to a stream's first chunk", base, calls, "first_token"
        )
        yield _histogram(
            "bifrost_overhead_latency_microseconds",
            "Time the gateway itself added to a call (its time to the answer, minus the time waiting on providers)",
            base,
            calls,
            "overhead",
        )


Children = Mapping[tuple[str, ...], CallSeries | HttpSeries]


def _counter(name: str, doc: str, labels: tuple[str, ...], children: Children, field: str) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, child in children.items():
        family.add_metric(values, getattr(child, field), created=child.created)
    return family


def _histogram(name: str, doc: str, labels: tuple[str, ...], children: Children, field: str) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for values, child in children.items():
        histogram: Histogram = getattr(child, field)
        family.add_metric(values, histogram.buckets(), histogram.sum)
        family.add_sample(name + "_created", dict(zip(labels, values, strict=True)), child.created)
    return family


def _tally(name: str, doc: str, labels: tuple[str, ...], tally: Tally) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, (value, created) in tally.values.items():
        family.add_metric(values, value, created=created)
    return family
