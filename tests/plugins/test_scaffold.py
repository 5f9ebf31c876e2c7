"""`gateway new-plugin NAME`: the package it writes installs (a wheel with the `gateway` entry point), type-checks
strictly without an ignore, and its own test, written with the kit, passes."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("plugins")
    done = run(sys.executable, "-m", "gateway", "new-plugin", "acme_policy", "--dir", str(parent), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return parent / "acme_policy"


def test_it_writes_an_installable_package_with_its_entry_point(scaffold: Path, tmp_path: Path) -> None:
    assert sorted(p.relative_to(scaffold).as_posix() for p in scaffold.rglob("*") if p.is_file()) == [
        "README.md",
        "acme_policy/__init__.py",
        "pyproject.toml",
        "tests/test_acme_policy.py",
    ]
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), ".",
                cwd=scaffold)  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("acme_policy-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read("acme_policy-0.1.0.dist-info/entry_points.txt").decode()
    assert "[gateway]\nacme_policy = acme_policy" in entry_points


def test_its_own_tests_pass_with_the_kit(scaffold: Path) -> None:
    env = dict(os.environ) | {"PYTHONPATH": str(scaffold)}
    tested = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=scaffold, env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout


def test_it_type_checks_strictly_and_is_lint_clean(scaffold: Path) -> None:
    env = dict(os.environ) | {"MYPYPATH": str(ROOT)}
    checked = run(sys.executable, "-m", "mypy", "acme_policy", "tests", cwd=scaffold, env=env)
    assert checked.returncode == 0, checked.stdout
    assert "type: ignore" not in (scaffold / "acme_policy" / "__init__.py").read_text()
    linted = run(sys.executable, "-m", "ruff", "check", ".", cwd=scaffold)
    assert linted.returncode == 0, linted.stdout


@pytest.mark.parametrize("name", ["Acme", "acme-policy", "import", "gateway", "9lives"])
def test_a_name_that_is_no_python_identifier_is_refused(name: str, tmp_path: Path) -> None:
    done = run(sys.executable, "-m", "gateway", "new-plugin", name, "--dir", str(tmp_path), cwd=ROOT)
    assert done.returncode == 2 and "not a valid plugin name" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    done = run(sys.executable, "-m", "gateway", "new-plugin", "taken", "--dir", str(tmp_path), cwd=ROOT)
    assert done.returncode == 2 and "exists already" in done.stderr


def test_the_readme_shows_what_it_writes_verbatim(scaffold: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    for path in (scaffold / "acme_policy" / "__init__.py", scaffold / "tests" / "test_acme_policy.py"):
        body = path.read_text().split('"""\n', 1)[1].replace("from __future__ import annotations\n", "").strip()
        assert body in readme, path
