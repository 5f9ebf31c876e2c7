"""Refresh tests/data/claude_code/: run the pinned Claude Code straight at the kit's FakeUpstream (no gateway in
between, so the files hold exactly what Claude Code sends) and save every request it makes, normalised.

    .venv/bin/python -m tests.claude_code.capture            # rewrites tests/data/claude_code/*.json

Normalised: the client key, the temporary directory, the device and session ids, the date, the kernel version
and the port; everything else is byte for byte what Claude Code sent (bodies keep its key order)."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.testing import CLIENT_KEY, FakeUpstream, Recorded, Reply

from .harness import NOTES, PINNED, READ_PROMPT, read_reply, run_claude, text_reply

DATA = Path(__file__).resolve().parents[1] / "data" / "claude_code"
PLACEHOLDER_ROOT = "/tmp/claude-capture"
DEVICE_ID = "0" * 64
SESSION_ID = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Scenario:
    """One `claude -p` run: its prompt and flags, and the upstream's replies in order."""

    name: str
    prompt: str
    args: tuple[str, ...]
    replies: Callable[[Path], Sequence[Reply]]


SCENARIOS = (
    Scenario("hello_default_model", "Say hello", (), lambda _: [text_reply("Hello from the fake upstream.")]),
    Scenario("hello_opus_4_8", "Say hello", ("--model", "claude-opus-4-8"), lambda _: [text_reply("Hello.")]),
    Scenario("hello_haiku_4_5", "Say hello", ("--model", "claude-haiku-4-5"), lambda _: [text_reply("Hello.")]),
    Scenario("hello_gpt_4o_mini", "Say hello", ("--model", "openai/gpt-4o-mini"), lambda _: [text_reply("Hello.")]),
    Scenario(
        "read_file",
        READ_PROMPT,
        ("--allowedTools", "Read"),
        lambda work: [read_reply(work), text_reply("The first line is: alpha beta")],
    ),
)


def normalise_text(text: str, root: Path) -> str:
    """Machine- and run-specific strings in a body or header value, replaced by fixed ones of the same shape."""
    text = text.replace(str(root), PLACEHOLDER_ROOT)
    # Claude Code names its per-project config dir after the path with every non-alphanumeric turned into "-".
    text = text.replace(re.sub(r"[^A-Za-z0-9]", "-", str(root)), re.sub(r"[^A-Za-z0-9]", "-", PLACEHOLDER_ROOT))
    text = re.sub(r'(\\"device_id\\":\\")[0-9a-f]{64}', rf"\g<1>{DEVICE_ID}", text)
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", SESSION_ID, text)
    text = text.replace(datetime.date.today().isoformat(), "2026-01-01")  # only today's: betas carry dates too
    return re.sub(r"OS Version: Linux [^\\\n\"]+", "OS Version: Linux 6.0.0", text)


def normalise(recorded: Recorded, root: Path) -> dict[str, Any]:
    """One request as a JSON-ready dict: method, path with query, headers, body (parsed, in sent key order)."""
    headers: dict[str, str] = {}
    for name, value in recorded.headers.items():
        if name.lower() in ("x-api-key", "authorization"):
            value = value.replace(CLIENT_KEY, "<client key>")
        elif name.lower() == "host":
            value = "127.0.0.1:<port>"
        headers[name] = normalise_text(value, root)
    query = "&".join(f"{k}={v}" for k, v in recorded.query.items())
    body = json.loads(normalise_text(recorded.body.decode(), root)) if recorded.body else None
    path = recorded.path + (f"?{query}" if query else "")
    return {"method": recorded.method, "path": path, "headers": headers, "body": body}


async def capture(scenario: Scenario, root: Path) -> list[dict[str, Any]]:
    """Run one scenario in `root` (home and project dirs inside) and return its normalised requests."""
    work = root / "work"
    work.mkdir(parents=True)
    (work / "notes.txt").write_text(NOTES)
    async with FakeUpstream() as fake:
        fake.script("/v1/messages", *scenario.replies(work))
        run = await run_claude(fake.url, scenario.prompt, home=root / "home", workdir=work, args=scenario.args)
        if run.returncode != 0 or fake.pending("/v1/messages"):
            raise SystemExit(f"{scenario.name}: unexpected run\n{run}")
        return [normalise(r, root) for r in fake.requests]


async def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for scenario in SCENARIOS:
        with tempfile.TemporaryDirectory(prefix="claude-capture-") as tmp:
            requests = await capture(scenario, Path(tmp))
        document = {"claude_code": PINNED, "scenario": scenario.name, "prompt": scenario.prompt}
        document |= {"args": list(scenario.args), "requests": requests}
        (DATA / f"{scenario.name}.json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
        print(f"{scenario.name}: {len(requests)} request(s)", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
