"""The crash test: a gateway subprocess is SIGKILLed with async jobs completed, running and pending; restarted on
the same app dir, it finishes every job, runs none again that had completed, and runs again only the ones that
were at the upstream when it died (the fake upstream counts calls per job by a marker in the prompt), under the
same Idempotency-Key as before, so an upstream that honours the header runs each once.

To know exactly what the store held at the kill, the process is first frozen (SIGSTOP): nothing it does after
that can reach the store or the upstream, so the store read then, and the upstream's log, are the state the
SIGKILL interrupts. If the freeze lands in a moment without two jobs at the upstream, the process is thawed and
frozen again a little later (no guessing with sleeps).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from pathlib import Path

from gateway.testing import FakeUpstream, Http, dumps, openai_body
from tests.http.async_helpers import (
    CHAT,
    POLL,
    STATUS,
    CountingUpstream,
    answer_for,
    free_port,
    job_rows,
    marker_of,
    poll,
    read_log,
    reap,
    spawn_gateway,
    submit,
    wait_done,
    wait_healthy,
    write_openai_config,
)

N_JOBS = 10
CONCURRENCY = 2
SLOW_S = 1.0  # the upstream's delay before the kill: jobs are caught running
FAST_S = 0.1  # ... and after the restart, to finish quickly
FINISH_TIMEOUT_S = 30.0
KEY = "crash-test-client-key"


async def _freeze_with_jobs_in_every_state(
    proc: subprocess.Popen[bytes], fake: FakeUpstream, app_dir: Path, ids: dict[str, str]
) -> dict[str, tuple[str, int]]:
    """SIGSTOP the gateway at a moment when at least one job is completed in the store, two are at the
    upstream and some have not started; return the store's rows (by marker) as of the freeze."""
    for _ in range(100):
        proc.send_signal(signal.SIGSTOP)
        await asyncio.sleep(0.15)  # requests written before the freeze reach the fake and are logged
        by_id = job_rows(app_dir)
        rows = {marker: by_id[job_id] for marker, job_id in ids.items()}
        started = {marker_of(r) for r in fake.requests}
        completed = {m for m, (status, _) in rows.items() if status == "completed"}
        at_upstream = started - completed
        assert len(at_upstream) <= CONCURRENCY, (at_upstream, rows)  # the worker pool's bound
        if completed and len(at_upstream) == CONCURRENCY and len(started) < N_JOBS:
            assert all(rows[m][0] == "running" for m in at_upstream), rows
            return rows
        proc.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.05)
    raise AssertionError(f"never caught two jobs at the upstream: {rows}")


async def test_sigkill_and_restart_finishes_every_job_and_reruns_only_interrupted_ones(tmp_path: Path) -> None:
    app_dir, log = tmp_path / "app", tmp_path / "gateway.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with (fake := CountingUpstream()):
            fake.delay = SLOW_S
            config = write_openai_config(tmp_path / "config.json", fake.url, async_max_concurrency=CONCURRENCY)
            procs.append(spawn_gateway(config, port, app_dir, log))
            await wait_healthy(procs[0], url, log)
            async with Http(url, key=KEY) as http:
                ids: dict[str, str] = {}
                for i in range(N_JOBS):
                    submitted = await submit(http, CHAT, openai_body(text=f"job-{i}"))
                    assert submitted.status == 200 and submitted.headers[STATUS] == "pending", submitted
                    ids[f"job-{i}"] = submitted.headers[POLL]
                first_done = await wait_done(http, CHAT, ids["job-0"], timeout=FINISH_TIMEOUT_S)
                assert first_done.headers[STATUS] == "completed", first_done

                at_kill = await _freeze_with_jobs_in_every_state(procs[0], fake, app_dir, ids)
                procs[0].kill()
                assert procs[0].wait(timeout=10) == -signal.SIGKILL
                await asyncio.sleep(0.2)  # anything still on the wire from the dead process lands in phase 1
                before = Counter(marker_of(r) for r in fake.requests)
                n_before = len(fake.requests)

                fake.delay = FAST_S
                procs.append(spawn_gateway(config, port, app_dir, log))  # same app dir, same port
                await wait_healthy(procs[1], url, log)
                results = {
                    marker: await wait_done(http, CHAT, job_id, timeout=FINISH_TIMEOUT_S)
                    for marker, job_id in ids.items()
                }
                after = Counter(marker_of(r) for r in fake.requests[n_before:])
                await poll(http, CHAT, ids["job-0"])  # polling a finished job afterwards runs nothing
                assert len(fake.requests) == n_before + sum(after.values())
        rows_after = {marker: job_rows(app_dir)[job_id] for marker, job_id in ids.items()}
    finally:
        reap(procs)

    context = f"at kill: {at_kill}\nbefore: {before}\nafter: {after}\n{read_log(log)[-4000:]}"
    for marker, answer in results.items():  # every job completed, with its own answer
        assert answer.status == 200 and answer.headers[STATUS] == "completed", (marker, answer, context)
        assert answer.body == dumps(answer_for(marker)).encode(), (marker, answer)
    completed_at_kill = {m for m, (status, _) in at_kill.items() if status == "completed"}
    interrupted = {m for m in before if m not in completed_at_kill}  # at the upstream when it died
    never_started = set(ids) - set(before)
    assert completed_at_kill and len(interrupted) >= CONCURRENCY and never_started, context
    assert completed_at_kill <= set(before), context
    for marker in completed_at_kill:
        assert after[marker] == 0, (marker, context)  # completed jobs never run again
        assert rows_after[marker] == ("completed", 1), (marker, rows_after)
    for marker in interrupted:
        assert after[marker] == 1, (marker, context)  # interrupted jobs run exactly once more
        assert rows_after[marker] == ("completed", 2), (marker, rows_after)
    for marker in never_started:
        assert after[marker] == 1, (marker, context)
    calls = before + after
    assert max(calls.values()) <= 2, context
    for request in fake.requests:  # every run of a job asks the upstream with the job's own idempotency key
        assert request.headers["idempotency-key"] == f"bf-job-{ids[marker_of(request)]}", request.headers
    assert sum(calls.values()) == N_JOBS + len(interrupted), context
    assert "Traceback" not in read_log(log), context
