"""The `claude` fixture: the pinned Claude Code bound to this test's own HOME and project directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import NOTES, Claude


@pytest.fixture
def claude(tmp_path: Path) -> Claude:
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text(NOTES)
    return Claude(home=tmp_path / "home", work=work)
