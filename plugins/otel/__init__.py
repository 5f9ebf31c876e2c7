"""OpenTelemetry (`otel`, Bifrost's plugin name; the optional extra `otel`): traces of every call, exported over
OTLP/HTTP to `collector_url`. See the README's "OpenTelemetry".

With no `plugins[]` entry for it (or no `collector_url`) it imports no SDK, registers no request hook and exports
nothing: unused, it costs nothing. Its own TracerProvider (never the process's global one), so two gateways in
one process, or an application embedding one, keep their traces apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gateway import hookimpl
from gateway.api import REDACTOR, ConfigRegistry, add_hooks, plugin_config, plugin_enabled, remove_hooks

from .config import OtelConfig

NAME = "otel"
HOOKS_NAME = "otel.spans"
INSTRUMENTATION = "llm-gateway"


@hookimpl
def gw_register_config(registry: ConfigRegistry) -> None:
    registry.add(NAME, OtelConfig)


@hookimpl
def gw_lifespan(app: web.Application) -> contextlib.AbstractAsyncContextManager[None]:
    return _running(app)


@contextlib.asynccontextmanager
async def _running(app: web.Application) -> AsyncIterator[None]:
    config = plugin_config(app, OtelConfig) if plugin_enabled(app, NAME) else None
    if config is None or not config.collector_url:
        yield
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise RuntimeError("the otel plugin needs the `otel` extra: pip install 'llm-gateway[otel]'") from None
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from .spans import HashedResource, Spans, Tracing

    app[REDACTOR].add(*(value for value in config.headers.values() if value))  # e.g. a collector's token
    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES too; service_name (ours) wins over its service.name.
    created = Resource.create({"service.name": config.service_name})
    provider = TracerProvider(resource=HashedResource(created.attributes, created.schema_url))
    exporter = OTLPSpanExporter(
        endpoint=config.traces_url, headers=dict(config.headers), certificate_file=config.tls_ca_cert or None
    )
    processor = BatchSpanProcessor(exporter)  # OTEL_BSP_* variables tune its batches
    provider.add_span_processor(processor)  # for its shutdown (a flush); spans go to `processor` directly
    add_hooks(app, Tracing(Spans(provider, processor, InstrumentationScope(INSTRUMENTATION))), HOOKS_NAME)
    try:
        yield
    finally:
        remove_hooks(app, HOOKS_NAME)
        # Flushes what is queued (a blocking HTTP export): in a thread, so the loop's other shutdowns go on.
        await asyncio.to_thread(provider.shutdown)
