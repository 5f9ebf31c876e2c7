"""Running a stored job: the very dialect decoding, engine and encoding of a synchronous call (ARCHITECTURE 8)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from msgspec.structs import replace
from multidict import CIMultiDict, CIMultiDictProxy

from ..dialects.registry import BY_NAME
from ..errors import GatewayError
from ..http.entry import served_headers
from ..http.middlewares import new_request_id
from ..keys import APP_DIR, ENGINE, JOBS, REDACTOR, SETTINGS
from ..pipeline.context import CallContext
from ..stores.jobs import Job
from ..stores.sqlite_jobs import SqliteJobStore
from .service import JobService, Outcome

DB_FILE = "gateway.db"


async def jobs_context(app: web.Application) -> AsyncIterator[None]:
    """The app's job store and worker pool (after the engine, so that jobs can finish before it closes)."""
    store = await SqliteJobStore.open(Path(app[APP_DIR]) / DB_FILE)
    service = JobService(store, lambda job: run_job(app, job), app[SETTINGS].client)
    app[JOBS] = service
    await service.start()
    try:
        yield
    finally:
        await service.stop()


async def run_job(app: web.Application, job: Job) -> Outcome:
    dialect = BY_NAME[job.dialect]
    engine, settings = app[ENGINE], app[SETTINGS]
    headers = CIMultiDictProxy(CIMultiDict(job.headers))
    request_id = new_request_id()
    ctx = CallContext(
        request_id=request_id,
        app=app,
        settings=settings,
        headers=headers,
        route_prefix=job.route_prefix,
        principal=job.principal,
        plugin_configs=engine.plugin_configs,
        media_rules=engine.providers.media_rules,
    )
    answer_headers = [(dialect.request_id_header, request_id)]
    try:
        call = dialect.decode_call(job.body, headers, settings)
        # A job can run more than once (a crash mid-call runs it again): one key for all its runs.
        call = replace(call, idempotency_key=f"bf-job-{job.id}")
        result = await engine.complete(call, ctx)
    except GatewayError as exc:
        exc = app[REDACTOR].error(exc)  # the stored job outlives the call: no secret goes into it
        body = dialect.error_body(exc, request_id)
        return Outcome(status=dialect.error_status(exc), body=body, headers=answer_headers, error=exc.message)
    if result.native is not None and result.native.dialect == dialect.name:
        answer_headers = list(result.headers) or answer_headers
    answer_headers += list(served_headers(ctx).items())
    return Outcome(status=200, body=dialect.encode_result(call, result), headers=answer_headers)
