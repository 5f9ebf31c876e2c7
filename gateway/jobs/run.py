"""Running a stored job: the very dialect decoding, engine and encoding of a synchronous call (ARCHITECTURE 8)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from msgspec.structs import replace
from multidict import CIMultiDict, CIMultiDictProxy

from ..answer import answer_headers, new_context, new_request_id
from ..dialects.registry import BY_NAME
from ..errors import GatewayError
from ..keys import APP_DIR, ENGINE, JOBS, REDACTOR, REDIS, SETTINGS
from ..stores.jobs import Job, JobStore
from ..stores.sqlite_jobs import SqliteJobStore
from .service import JobService, Outcome

DB_FILE = "gateway.db"


async def jobs_context(app: web.Application) -> AsyncIterator[None]:
    """The app's job store and worker pool (after the engine, so that jobs can finish before it closes)."""
    service = JobService(await _store(app), lambda job: run_job(app, job), app[SETTINGS].client)
    app[JOBS] = service
    await service.start()
    try:
        yield
    finally:
        await service.stop()


async def _store(app: web.Application) -> JobStore:
    """SQLite in the app dir, or Redis (shared by every gateway on it) when the `redis` section is configured."""
    if (redis := app.get(REDIS)) is None:
        return await SqliteJobStore.open(Path(app[APP_DIR]) / DB_FILE)
    from ..stores.redis_jobs import RedisJobStore  # imports the redis package: only when configured

    concurrency, config = app[SETTINGS].client.async_max_concurrency, redis.config
    return await RedisJobStore.open(redis, concurrency, config.jobs_visibility_timeout_in_seconds)


async def run_job(app: web.Application, job: Job) -> Outcome:
    dialect = BY_NAME[job.dialect]
    headers = CIMultiDictProxy(CIMultiDict(job.headers))
    ctx = new_context(app, new_request_id(), headers, job.route_prefix, job.principal)
    try:
        call = dialect.decode_call(job.body, headers, ctx.settings)
        # A job can run more than once (a crash mid-call runs it again): one key for all its runs.
        call = replace(call, idempotency_key=f"bf-job-{job.id}")
        result = await app[ENGINE].complete(call, ctx)
    except GatewayError as exc:
        exc = app[REDACTOR].error(exc)  # the stored job outlives the call: no secret goes into it
        body = dialect.error_body(exc, ctx.request_id)
        headers_out = [(dialect.request_id_header, ctx.request_id)]
        return Outcome(status=dialect.error_status(exc), body=body, headers=headers_out, error=exc.message)
    answered = list(answer_headers(dialect, result, ctx).items())
    return Outcome(status=200, body=dialect.encode_result(call, result), headers=answered)
