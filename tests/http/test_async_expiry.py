"""Result expiry: a job polls as 404 once its TTL has passed, and the sweep deletes it from the store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway.testing import (
    FakeUpstream,
    Http,
    Reply,
    anthropic_body,
    anthropic_message,
    assert_anthropic_error,
    assert_openai_error,
    openai_body,
    openai_completion,
)
from tests.conftest import MakeGateway, upstream_config
from tests.http.async_helpers import (
    CHAT,
    MESSAGES,
    NATIVE_CHAT,
    POLL,
    STATUS,
    TTL,
    UP_CHAT,
    UP_MESSAGES,
    iso_seconds,
    job_rows,
    native_wait,
    poll,
    poll_until,
    submit,
    wait_done,
)


async def test_ttl_one_second_expires_and_the_sweep_deletes_the_row(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    app_dir = tmp_path / "gw"
    gw = await make_gateway(upstream_config(fake_upstream.url, async_sweep_interval_in_seconds=0.2), app_dir=app_dir)
    fake_upstream.default(UP_MESSAGES, Reply.json(anthropic_message("short-lived")))
    async with Http(gw.url) as http:
        short = (await submit(http, MESSAGES, anthropic_body(), {TTL: "1"})).headers[POLL]
        kept = (await submit(http, MESSAGES, anthropic_body())).headers[POLL]
        done = await wait_done(http, MESSAGES, short)
        completed = time.monotonic()
        assert done.status == 200 and done.headers[STATUS] == "completed", done
        assert (await wait_done(http, MESSAGES, kept)).headers[STATUS] == "completed"
        assert job_rows(app_dir)[short] == ("completed", 1)  # committed before expiry

        expired = await poll_until(lambda: poll(http, MESSAGES, short), lambda a: a.status != 200, timeout=4)
        assert time.monotonic() - completed >= 0.5  # not before its TTL (allowing for coarse clocks)
        assert_anthropic_error(expired, 404, "not_found_error")
        assert STATUS not in expired.headers

        await poll_until(lambda: _rows(app_dir), lambda rows: short not in rows, timeout=3)
        assert kept in job_rows(app_dir)  # the sweep leaves live jobs alone
        still = await poll(http, MESSAGES, kept)
        assert still.status == 200 and still.headers[STATUS] == "completed"
        assert_anthropic_error(await poll(http, MESSAGES, short), 404, "not_found_error")


async def _rows(app_dir: Path) -> dict[str, tuple[str, int]]:
    return job_rows(app_dir)


async def test_expired_job_is_404_even_before_the_sweep_runs(
    make_gateway: MakeGateway, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    app_dir = tmp_path / "gw"
    gw = await make_gateway(upstream_config(fake_upstream.url), app_dir=app_dir)  # sweep every 60 s
    fake_upstream.default(UP_CHAT, Reply.json(openai_completion("short-lived")))
    async with Http(gw.url) as http:
        on_route = (await submit(http, CHAT, openai_body(), {TTL: "1"})).headers[POLL]
        native = (await http.post(NATIVE_CHAT, openai_body(), {TTL: "1"})).json()["id"]
        assert (await wait_done(http, CHAT, on_route)).headers[STATUS] == "completed"
        job = (await native_wait(http, NATIVE_CHAT, native)).json()
        assert job["status"] == "completed"
        assert iso_seconds(job["expires_at"]) - iso_seconds(job["completed_at"]) == 1
        await asyncio.sleep(max(0.0, iso_seconds(job["expires_at"]) - time.time()) + 0.2)
        assert_openai_error(await poll(http, CHAT, on_route), 404, "not_found_error")
        assert_openai_error(await http.get(f"{NATIVE_CHAT}/{native}"), 404, "not_found_error")
    rows = job_rows(app_dir)
    assert rows[on_route][0] == rows[native][0] == "completed"  # still stored: the sweep has not run yet
