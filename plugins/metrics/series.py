"""The metrics of one app, on a registry of its own, with Bifrost's names, labels and bounded label values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BASE_LABELS = ("provider", "model", "virtual_key_name", "team", "fallback_index")
HTTP_LABELS = ("path", "method", "status")
OTHER = "other"
MAX_VALUE_LENGTH = 100
# Seconds, like Bifrost's upstream and first-token histograms; the overhead histogram is in microseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000)


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


@dataclass(slots=True, frozen=True)
class CallSeries:
    """The children of the call metrics for one set of base (and custom) labels: `labels()` validates and looks
    up its arguments on every call, which costs more than the count itself, so each set is looked up once."""

    upstream_requests: Any
    success: Any
    upstream_latency: Any
    input_tokens: Any
    output_tokens: Any
    cost: Any
    first_token: Any
    overhead: Any


@dataclass(slots=True, frozen=True)
class HttpSeries:
    requests: Any
    duration: Any


class Series:
    """Every metric the plugin reports, registered on `registry` (one per app: two apps never share a count)."""

    def __init__(self, custom: tuple[str, ...], limit: int) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.custom = custom
        self.bounded = Bounded(limit)
        self._calls: dict[tuple[str, ...], CallSeries] = {}
        self._https: dict[tuple[str, ...], HttpSeries] = {}
        base = (*BASE_LABELS, *custom)
        http = (*HTTP_LABELS, *custom)
        self.http_requests = Counter("http_requests_total", "HTTP requests", http, registry=registry)
        self.http_duration = Histogram(
            "http_request_duration_seconds", "HTTP request duration", http, registry=registry, buckets=LATENCY_BUCKETS
        )
        self.upstream_requests = Counter(
            "bifrost_upstream_requests_total", "Calls sent to a provider", base, registry=registry
        )
        self.success = Counter("bifrost_success_requests_total", "Calls answered", base, registry=registry)
        self.errors = Counter(
            "bifrost_error_requests_total",
            "Calls that failed",
            (*base, "status_code", "error_type"),
            registry=registry,
        )
        self.upstream_latency = Histogram(
            "bifrost_upstream_latency_seconds",
            "Time waiting on providers (retries and fallbacks included)",
            base,
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.input_tokens = Counter("bifrost_input_tokens_total", "Prompt tokens", base, registry=registry)
        self.output_tokens = Counter("bifrost_output_tokens_total", "Completion tokens", base, registry=registry)
        self.cache_hits = Counter(
            "bifrost_cache_hits_total", "Calls a cache answered", (*base, "cache_type"), registry=registry
        )
        self.cost = Counter("bifrost_cost_total", "Cost in USD", base, registry=registry)
        self.active = Gauge("bifrost_active_requests", "Inference requests in flight", registry=registry)
        self.first_token = Histogram(
            "bifrost_stream_first_token_latency_seconds",
            "Time to a stream's first chunk",
            base,
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self.overhead = Histogram(
            "bifrost_overhead_latency_microseconds",
            "Time the gateway itself added to a call (its time to the answer, minus the time waiting on providers)",
            base,
            registry=registry,
            buckets=OVERHEAD_BUCKETS,
        )

    def call(self, labels: tuple[str, ...]) -> CallSeries:
        """The call metrics' children for `labels` (bounded values: the cache is as bounded as the series)."""
        found = self._calls.get(labels)
        if found is None:
            metrics = (
                self.upstream_requests,
                self.success,
                self.upstream_latency,
                self.input_tokens,
                self.output_tokens,
                self.cost,
                self.first_token,
                self.overhead,
            )
            found = self._calls[labels] = CallSeries(*(metric.labels(*labels) for metric in metrics))
        return found

    def http(self, labels: tuple[str, ...]) -> HttpSeries:
        found = self._https.get(labels)
        if found is None:
            found = self._https[labels] = HttpSeries(
                self.http_requests.labels(*labels), self.http_duration.labels(*labels)
            )
        return found
